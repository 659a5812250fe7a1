"""A file must decode identically in another process with another thread count."""
import hashlib
import subprocess
import sys
import textwrap

import numpy as np
import torch

from conftest import REPO, natural_image

CHILD = textwrap.dedent("""
    import hashlib, sys
    import numpy as np, torch
    torch.set_num_threads(int(sys.argv[2]))
    import codec
    c = codec.load()
    data = open(sys.argv[1], "rb").read()
    h = hashlib.sha256()
    for layer in c.decode_symbols(data):
        h.update(layer.values.tobytes() + layer.table_ids.tobytes())
    print(h.hexdigest(), hashlib.sha256(np.asarray(c.decompress(data)).tobytes()).hexdigest())
""")


def _digests(layers, image) -> tuple[str, str]:
    h = hashlib.sha256()
    for layer in layers:
        h.update(layer.values.tobytes() + layer.table_ids.tobytes())
    return h.hexdigest(), hashlib.sha256(np.asarray(image).tobytes()).hexdigest()


def test_decode_in_other_processes_and_thread_counts(shipped_codec, tmp_path):
    torch.set_num_threads(2)
    img = natural_image(192, 320, seed=11)
    data = shipped_codec.compress(img, 5.5)
    path = tmp_path / "x.hvc"
    path.write_bytes(data)
    here = _digests(shipped_codec.decode_symbols(data), shipped_codec.decompress(data))
    for threads in (1, 2):
        out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(threads)], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert tuple(out.stdout.split()) == here, f"differs with {threads} thread(s)"

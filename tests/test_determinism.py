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


def test_symbols_outside_the_tables_survive_the_file():
    """A prior far too confident for its image (here: every bottom-up feature scaled 300x)
    puts many symbols outside their tables. They must reach the decoder unchanged
    (escaped, not clipped), and the file must cost at least what the estimate says."""
    from codec.api import Codec, prepare, to_tensor

    codec_ = Codec.random(seed=3)
    model = codec_._coder.model
    bottom_up = model.bottom_up
    model.bottom_up = lambda x: [300 * f for f in bottom_up(x)]
    img = natural_image(128, 192, seed=5)
    x = to_tensor([prepare(img).pixels], codec_.config.pad_multiple)
    sent = codec_._coder.encode(x, 3.0)
    outside = sum(int(np.sum((layer.values[0] < c.offsets[layer.table_ids[0]])
                             | (layer.values[0] >= c.offsets[layer.table_ids[0]] + c.sizes[layer.table_ids[0]])))
                  for layer, c in zip(sent, codec_._coder.coders))
    assert outside > 100
    data = codec_.compress(img, 3.0)
    for a, b in zip(sent, codec_.decode_symbols(data)):
        np.testing.assert_array_equal(a.values, b.values)
    estimate = codec_.estimate(img, 3.0)
    assert estimate.bits <= 8 * len(data)

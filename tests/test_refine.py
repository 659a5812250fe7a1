"""Effort levels: encode-time refinement of the latents (codec.refine)."""
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import codec
from codec.images import to_image, to_tensor
from codec.refine import EFFORTS, MAX_EFFORT, Effort, refine
from conftest import REPO, natural_image

SHORT = Effort(steps=12, seconds=0, checks=3)


@pytest.mark.parametrize("seed,quality", [(1, 2.0), (2, 6.5), (3, 10.0)])
def test_refinement_never_loses_and_usually_wins(shipped_codec, seed, quality):
    img = natural_image(64, 96, seed=seed)
    x = to_tensor([img], shipped_codec.config.pad_multiple)
    r = refine(shipped_codec._coder, x, 64, 96, quality, SHORT)
    assert r.loss <= r.loss_effort0
    assert r.step > 0 and r.loss < 0.995 * r.loss_effort0, (r.loss, r.loss_effort0)


def test_a_refined_file_decodes_to_what_the_encoder_predicted(shipped_codec):
    """The API's effort-1 file decodes, with the plain decoder, to exactly the image the
    refinement's own final reconstruction predicts (the refinement is deterministic)."""
    img = natural_image(64, 96, seed=4)
    coder = shipped_codec._coder
    x = to_tensor([img], shipped_codec.config.pad_multiple)
    r = refine(coder, x, 64, 96, 4.0, EFFORTS[1])
    predicted = to_image(coder.reconstruct(r.layers, x.shape[2], x.shape[3], 4.0)[0], 96, 64, "RGB")
    data = shipped_codec.compress(img, 4.0, effort=1)
    assert data != shipped_codec.compress(img, 4.0)  # refinement changed the symbols
    assert np.array_equal(np.asarray(codec.decompress(data)), np.asarray(predicted))


def test_effort_zero_is_the_plain_encoder(tiny_codec):
    img = natural_image(70, 65, seed=5)
    assert tiny_codec.compress(img, 3.0, effort=0) == tiny_codec.compress(img, 3.0)


def test_refinement_is_deterministic_and_the_file_decodes_anywhere(shipped_codec):
    img = natural_image(64, 64, seed=6)
    a = shipped_codec.compress(img, 5.0, effort=1)
    assert a == shipped_codec.compress(img, 5.0, effort=1)
    assert shipped_codec.decompress(a).size == (64, 64)


@pytest.mark.parametrize("effort", [-1, MAX_EFFORT + 1, 1.5, "2", True, None])
def test_an_effort_out_of_range_is_one_line(tiny_codec, effort):
    with pytest.raises(codec.CodecError, match="effort must be an integer") as e:
        tiny_codec.compress(natural_image(32, 32), 2.0, effort=effort)
    assert "\n" not in str(e.value)


def test_levels_grow_in_steps_and_the_cli_lists_them():
    assert EFFORTS[0].steps == 0 and all(a.steps < b.steps for a, b in zip(EFFORTS, EFFORTS[1:]))
    from codec.cli import main

    assert main(["compress", "x.png", "--effort", str(MAX_EFFORT + 1)]) == 1


def test_ctrl_c_during_a_long_encode_leaves_no_output(tmp_path):
    src = tmp_path / "big.png"
    Image.fromarray(natural_image(512, 768, seed=7)).save(src)
    out = tmp_path / "big.hvc"
    # SIG_DFL in the child: a job started in the background by a shell inherits SIGINT ignored,
    # and Python then never turns Ctrl-C into KeyboardInterrupt.
    proc = subprocess.Popen([sys.executable, "-m", "codec", "compress", str(src), "-e", str(MAX_EFFORT),
                             "-o", str(out)], cwd=REPO, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen, deadline = b"", time.time() + 120
    while b"step" not in seen and time.time() < deadline:  # refinement runs: its progress bar
        seen += proc.stderr.read(1)
    proc.send_signal(signal.SIGINT)
    try:
        rest = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130, (seen + rest).decode(errors="replace")
    assert not out.exists() and list(tmp_path.iterdir()) == [src]

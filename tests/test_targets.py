"""A size, bpp or PSNR instead of a quality: searched on real bytes and real decodes."""
import numpy as np
import pytest

from codec import CodecError, container
from codec.cli import main
from codec.metrics import psnr_rgb_db

from conftest import natural_image

IMAGE = natural_image(48, 64, seed=8)


def quality_of(data):
    return container.parse(data).header.quality


def test_target_bytes_is_the_highest_quality_within_the_size(tiny_codec):
    lo, hi = len(tiny_codec.compress(IMAGE, 1.0)), len(tiny_codec.compress(IMAGE, 8.0))
    target = (lo + hi) // 2
    data = tiny_codec.compress(IMAGE, target_bytes=target)
    assert len(data) <= target
    # 0.02 of a quality higher no longer fits (the search resolution is 0.01)
    assert len(tiny_codec.compress(IMAGE, quality_of(data) + 0.02)) > target
    assert data == tiny_codec.compress(IMAGE, quality_of(data))  # an ordinary file at that quality
    bpp = 8 * target / (64 * 48)
    assert 8 * len(tiny_codec.compress(IMAGE, target_bpp=bpp)) / (64 * 48) <= bpp


def test_target_psnr_is_the_lowest_quality_that_reaches_it(shipped_codec):
    """(A trained model: the tiny random one decodes to the same PSNR at every quality.)"""
    c = shipped_codec
    lo = psnr_rgb_db(IMAGE, np.asarray(c.decompress(c.compress(IMAGE, 1.0))))
    hi = psnr_rgb_db(IMAGE, np.asarray(c.decompress(c.compress(IMAGE, float(c.num_qualities)))))
    target = (lo + hi) / 2
    data = c.compress(IMAGE, target_psnr=target)
    assert psnr_rgb_db(IMAGE, np.asarray(c.decompress(data))) >= target
    below = c.compress(IMAGE, quality_of(data) - 0.02)
    assert psnr_rgb_db(IMAGE, np.asarray(c.decompress(below))) < target


def test_unreachable_targets_name_the_nearest_value(tiny_codec):
    smallest = len(tiny_codec.compress(IMAGE, 1.0))
    with pytest.raises(CodecError, match=f"lowest quality \\(1\\) gives {smallest:,} bytes"):
        tiny_codec.compress(IMAGE, target_bytes=smallest - 1)
    with pytest.raises(CodecError, match="highest quality \\(8\\) gives .* dB"):
        tiny_codec.compress(IMAGE, target_psnr=99)
    with pytest.raises(CodecError, match="not both"):
        tiny_codec.compress(IMAGE, 3.0, target_bytes=1000)
    with pytest.raises(CodecError, match="one target"):
        tiny_codec.compress(IMAGE, target_bytes=1000, target_psnr=30)
    with pytest.raises(CodecError, match="positive"):
        tiny_codec.compress(IMAGE, target_bpp=-1)


def test_a_refined_file_meets_the_target_too(tiny_codec):
    target = len(tiny_codec.compress(IMAGE, 4.0))
    data = tiny_codec.compress(IMAGE, effort=1, target_bytes=target)
    assert len(data) <= target


def test_cli_size_bpp_psnr(tmp_path, monkeypatch, use_tiny_checkpoints, capsys):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    Image.fromarray(IMAGE).save("a.png")
    assert main(["compress", "a.png", "--size", "0.4k", "-o", "s.hvc"]) == 0
    assert (tmp_path / "s.hvc").stat().st_size <= 400
    assert "quality" in capsys.readouterr().err
    assert main(["compress", "a.png", "--psnr", "5", "-o", "p.hvc"]) == 0
    assert main(["compress", "a.png", "--size", "10", "-o", "x.hvc"]) == 2
    assert "cannot reach 10 bytes" in capsys.readouterr().err and not (tmp_path / "x.hvc").exists()
    assert main(["compress", "a.png", "--size", "lots"]) == 1
    assert main(["compress", "a.png", "--size", "1k", "-q", "3"]) == 1

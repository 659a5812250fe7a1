"""Every benchmarked codec behind the one protocol: real bytes, sane records, clear skips."""
import json
import math

import numpy as np
import pytest

import codec as codec_package
from bench import codecs as registry
from bench.codecs.base import CodecUnavailable
from bench.codecs.ours import Ours, prefix_bytes
from conftest import natural_image

IMAGE = natural_image(48, 64, seed=7)


def available(name: str):
    try:
        return registry.create(name)
    except CodecUnavailable as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("name", registry.CLASSICAL + ("klt",))
def test_codec_returns_a_sane_record(name):
    c = available(name)
    json.dumps(c.settings)  # settings travel in results JSON and cache keys
    assert c.name == name and c.description and len(c.qualities) >= 8
    low, high = c.qualities[2], c.qualities[-2]
    record = c.run(IMAGE, high, image_name="synthetic")
    data = c.encode(IMAGE, high)
    assert record.num_bytes == len(data)  # deterministic encoders, rate from real bytes
    assert record.bpp == pytest.approx(8 * len(data) / (48 * 64))
    assert record.decoded.shape == IMAGE.shape and record.decoded.dtype == np.uint8
    assert 22 < record.psnr_rgb_db < 70
    assert math.isnan(record.ms_ssim)  # image too small for 5-scale MS-SSIM
    assert record.encode_seconds > 0 and record.decode_seconds > 0
    assert record.layers == ()
    coarse = c.run(IMAGE, low, with_ms_ssim=False)
    assert coarse.num_bytes < record.num_bytes and coarse.psnr_rgb_db < record.psnr_rgb_db
    assert np.array_equal(c.decode(data), record.decoded)


def test_ms_ssim_on_a_large_enough_image():
    c = available("jpeg")
    image = natural_image(176, 192, seed=8)
    record = c.run(image, 50)
    assert 0.8 < record.ms_ssim <= 1.0


def test_registry_reports_unknown_and_unavailable(monkeypatch):
    with pytest.raises(KeyError):
        registry.create("nope")

    def broken(name=None):
        raise FileNotFoundError("no checkpoint")

    monkeypatch.setattr(codec_package, "load", broken)
    codecs, skipped = registry.create_available(["jpeg", "ours"])
    assert [c.name for c in codecs] == ["jpeg"]
    assert skipped == ["ours: codec.load() failed: FileNotFoundError: no checkpoint"]


@pytest.fixture()
def ours(tiny_codec, monkeypatch):
    monkeypatch.setattr(codec_package, "load", lambda name=None: tiny_codec)
    return Ours()


def test_ours_records_every_layer_prefix(ours):
    assert ours.qualities == tuple(float(q) for q in range(1, ours.model.num_qualities + 1))
    json.dumps(ours.settings)
    record = ours.run(IMAGE, 4.0, with_ms_ssim=False)
    data = ours.encode(IMAGE, 4.0)
    L = ours.num_layers
    assert len(record.layers) == L and [p.layers for p in record.layers] == list(range(1, L + 1))
    sizes = [p.num_bytes for p in record.layers]
    assert sizes == sorted(sizes) and sizes[-1] == len(data) == record.num_bytes
    assert sizes == prefix_bytes(data, L)
    for p in record.layers:
        assert p.bpp == pytest.approx(8 * p.num_bytes / (48 * 64))
        cut = ours.decode(data[: p.num_bytes], layers=p.layers)  # a truncated file decodes
        assert p.psnr_rgb_db == pytest.approx(10 * np.log10(255**2 / np.mean((cut.astype(float) - IMAGE) ** 2)))
    assert record.layers[-1].psnr_rgb_db == pytest.approx(record.psnr_rgb_db)


def test_ours_times_the_ans_coder_as_the_entropy_section(ours):
    from bench.record import Clock
    from codec.ans import TableCoder

    original = TableCoder.encode
    clock = Clock()
    data = ours.encode(IMAGE, 4.0, clock)
    assert 0 < clock.seconds["entropy"]
    decode_clock = Clock()
    assert np.array_equal(ours.decode(data, decode_clock), ours.decode(data))
    assert 0 < decode_clock.seconds["entropy"]
    assert TableCoder.encode is original  # unpatched afterwards


@pytest.fixture(scope="module")
def tiny_peer(tmp_path_factory):
    """A 2-step mbt2018-mean peer, trained and exported by our own commands."""
    pytest.importorskip("compressai")
    from PIL import Image

    from codec.cli import main as cli_main
    from codec.training.trainer import main as train_main

    root = tmp_path_factory.mktemp("peer")
    for i in range(3):
        Image.fromarray(natural_image(72, 80, seed=i)).save(root / f"img{i}.png")
    run = root / "run"
    assert train_main([str(root), "--out", str(run), "--steps", "2", "--arch", "mbt2018-mean",
                       "--peer-n", "8", "--peer-m", "12", "--lmbda", "0.01", "--batch", "2", "--crop", "64",
                       "--bf16", "off", "--threads", "1", "--no-progress", "--val-fraction", "0"]) == 0
    mp = pytest.MonkeyPatch()
    mp.setenv("CODEC_CHECKPOINTS", str(root / "ckpts"))
    assert cli_main(["export", str(run), "--name", "mbt2018-mean"]) == 0
    yield registry.create("mbt2018-mean")
    mp.undo()


def test_peer_codes_with_compressai_and_counts_every_byte(tiny_peer):
    from bench.codecs.peer import HEADER
    from bench.record import Clock

    c = tiny_peer
    json.dumps(c.settings)
    assert c.settings["step"] == 2 and c.qualities == (1.0,)
    image = natural_image(50, 70, seed=3)  # not a multiple of 64: padded, then cropped
    clock = Clock()
    data = c.encode(image, 1.0, clock)
    assert clock.seconds["entropy"] > 0
    assert data[:4] == b"MBT1" and len(data) > HEADER.size
    record = c.run(image, 1.0)
    assert record.num_bytes == len(data) and record.decoded.shape == image.shape
    assert np.array_equal(c.decode(data), record.decoded)  # decoding is deterministic
    # the entropy-clock wrappers are gone afterwards
    assert "compress" not in vars(c.net.entropy_bottleneck)
    with pytest.raises(ValueError):
        c.decode(b"JUNK" + data[4:])


def test_peer_is_skipped_with_a_reason_when_not_shipped(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEC_CHECKPOINTS", str(tmp_path))
    codecs, skipped = registry.create_available(["mbt2018-mean"])
    assert codecs == [] and "mbt2018-mean" in skipped[0]


@pytest.mark.parametrize("name, widths", [("mbt2018-mean-zoo", (192, 320)), ("bmshj2018-hyperprior-zoo", (128, 192))])
def test_zoo_width_peers_code_for_speed_and_stay_out_of_rate_distortion(name, widths):
    import argparse

    from bench import codecs as registry
    from bench.cli import _rd_names

    codec = registry.create(name)
    net = codec.net
    assert (net.N, net.M) == widths
    image = natural_image(64, 96, seed=3)
    decoded = codec.decode(codec.encode(image, 1.0))
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert name in registry.SPEED_ONLY
    with pytest.raises(argparse.ArgumentTypeError, match="speed only"):
        _rd_names(f"ours,{name}")

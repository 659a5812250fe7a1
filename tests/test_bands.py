"""Bands of rows: the top-down convolutions (format version 4) and the finest layer as a whole
(version 5) compute the whole pass's values up to the last bit, each band is bounded in size,
and files of earlier versions decode as they were written."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from codec import bands, container
from codec.images import to_tensor
from conftest import natural_image


@pytest.mark.parametrize("h, w", [(37, 11), (300, 5), (64, 200), (1, 3000), (129, 77), (3, 2)])
@pytest.mark.parametrize("make", [lambda: nn.Conv2d(6, 5, 5, 1, 2), lambda: nn.Conv2d(6, 5, 3, 1, 1),
                                  lambda: nn.ConvTranspose2d(6, 5, 5, 2, 2, 1)],
                         ids=["conv5", "conv3", "deconv5s2"])
def test_banded_convolutions_compute_the_whole_pass_to_the_last_bit(h, w, make, monkeypatch):
    monkeypatch.setattr(bands, "BAND_POSITIONS", 64)  # many bands even on small inputs
    torch.manual_seed(h * w)
    conv = make().double()
    x = torch.randn(2, 6, h, w, dtype=torch.float64)
    whole, band = conv(x), bands.banded(nn.Sequential(conv), ("0",))(x)
    assert band.shape == whole.shape
    assert float((band - whole).abs().max()) <= 4 * torch.finfo(torch.float64).eps * float(whole.abs().max())


def test_each_band_is_bounded(monkeypatch):
    """What bounds the memory: no convolution of the banded copy sees more output positions
    than BAND_POSITIONS (or one row), and it shares the model's weights."""
    monkeypatch.setattr(bands, "BAND_POSITIONS", 100)
    model = nn.Sequential(nn.Conv2d(4, 4, 5, 1, 2), nn.ConvTranspose2d(4, 4, 5, 2, 2, 1), nn.Conv2d(4, 4, 1))
    banded = bands.banded(model, ("0", "1"))
    assert banded[0].conv.weight is model[0].weight and banded[2] is not model[2]
    seen = []
    for name in ("conv2d", "conv_transpose2d"):
        original = getattr(torch.nn.functional, name)

        def counting(*args, _original=original, **kwargs):
            out = _original(*args, **kwargs)
            seen.append(out.shape[-2] * out.shape[-1])
            return out
        monkeypatch.setattr(torch.nn.functional, name, counting)
    out = banded(torch.randn(1, 4, 40, 30))
    monkeypatch.undo()
    assert out.shape == model(torch.randn(1, 4, 40, 30)).shape
    seen = seen[:-1]  # the 1x1 convolution is not banded (it needs no im2col copy)
    assert len(seen) > 10 and max(seen) <= 100 + 8 * 60


def test_only_stride_one_same_convolutions_are_banded():
    with pytest.raises(ValueError, match="stride-1"):
        bands.BandedConv2d(nn.Conv2d(3, 3, 5, 2, 2))


def test_version_4_bands_the_top_down_pass_earlier_versions_do_not(shipped_codec, monkeypatch):
    """A file of version 4 or later decodes through the banded pass, one of version 3 through the
    whole pass; on the same symbols both derive the same table ids here (bands move values by ulps).
    The image's finest layer is one band of version 5, so it is coded as in version 4."""
    coder = shipped_codec._coder
    img = natural_image(16 * 40, 16 * 24, seed=3)
    data = shipped_codec.compress(img, 6.0)
    parsed = container.parse(data)
    assert parsed.header.version == container.VERSION == 5
    calls = {"banded": 0, "whole": 0}
    for name, model in (("banded", coder.banded_model), ("whole", coder.top_down_model)):
        monkeypatch.setattr(model, "top_down", _counting(model.top_down, calls, name))
    v5 = shipped_codec.decode_symbols(data)
    assert calls == {"banded": 1, "whole": 0}
    v4 = shipped_codec.decode_symbols(container.serialize(replace(parsed.header, version=4), list(parsed.chunks)))
    assert calls == {"banded": 2, "whole": 0}
    old = container.serialize(replace(parsed.header, version=3), list(parsed.chunks))
    v3 = shipped_codec.decode_symbols(old)
    assert calls == {"banded": 2, "whole": 1}
    for a, b, c in zip(v5, v4, v3):
        assert np.array_equal(a.table_ids, b.table_ids) and np.array_equal(a.values, b.values)
        assert np.array_equal(a.table_ids, c.table_ids) and np.array_equal(a.values, c.values)
    x = to_tensor([img], shipped_codec.config.pad_multiple)
    assert [layer.values.tolist() for layer in coder.encode(x, 6.0)] == [layer.values.tolist() for layer in v4]


# -- format version 5: the finest layer in bands ---------------------------------------------
SEQUENCES = {"prior": lambda: nn.Sequential(nn.Conv2d(6, 5, 3, 1, 1), nn.LeakyReLU(0.1), nn.Conv2d(5, 8, 3, 1, 1)),
             "context": lambda: nn.Sequential(nn.Conv2d(6, 5, 5, 1, 2), nn.LeakyReLU(0.1), nn.Conv2d(5, 5, 1),
                                              nn.LeakyReLU(0.1), nn.Conv2d(5, 8, 1))}


@pytest.mark.parametrize("h, w, rows", [(37, 11, 5), (9, 30, 1), (12, 4, 12), (20, 3, 7), (2, 50, 1)])
@pytest.mark.parametrize("kind", sorted(SEQUENCES))
@pytest.mark.parametrize("banded_copy", [False, True], ids=["plain", "banded"])
def test_rows_of_a_sequence_are_its_whole_output_up_to_the_last_bit(h, w, rows, kind, banded_copy, monkeypatch):
    monkeypatch.setattr(bands, "BAND_POSITIONS", 16)  # the convolutions band within each band too
    torch.manual_seed(h * w + rows)
    seq = SEQUENCES[kind]().double()
    x = torch.randn(2, 6, h, w, dtype=torch.float64)
    whole = seq(x)
    run = bands.banded(seq, tuple(str(i) for i in range(len(seq)))) if banded_copy else seq
    band = torch.cat([bands.rows_of(run, lambda a, b: x[..., a:b, :], h, r0, min(h, r0 + rows))
                      for r0 in range(0, h, rows)], dim=2)
    assert band.shape == whole.shape
    assert float((band - whole).abs().max()) <= 8 * torch.finfo(torch.float64).eps * float(whole.abs().max())


def test_rows_of_refuses_what_does_not_act_row_by_row():
    with pytest.raises(ValueError, match="row by row"):
        bands.rows_of(nn.Sequential(nn.BatchNorm2d(3)), lambda a, b: torch.zeros(1, 3, b - a, 4), 4, 0, 2)


@pytest.fixture()
def small_layer_bands(monkeypatch):
    """Bands of 64 positions: a 256x192 image's finest layer (16 x 12 latents) is 3 bands."""
    monkeypatch.setattr(bands, "LAYER_BAND_POSITIONS", 64)


def test_version_5_codes_the_finest_layer_band_by_band(tiny_codec, small_layer_bands):
    """Round trip through bands: the decoder derives the encoder's symbols and image, the finest
    layer's stream is in band order (with a context: anchors 0, anchors 1, rest 0, ...), and the
    symbols are those of the whole-layer pass of version 4 (ulps never reach a snapped value here)."""
    img = natural_image(192, 256, seed=5)
    data = tiny_codec.compress(img, 4.0)
    layers = tiny_codec.decode_symbols(data)
    x = to_tensor([img], tiny_codec.config.pad_multiple)
    coder = tiny_codec._coder
    encoded, image = coder.encode_and_decode(coder.analyze(x), 4.0)
    for a, b in zip(layers, encoded):
        assert np.array_equal(a.values, b.values) and np.array_equal(a.table_ids, b.table_ids)
    assert np.array_equal(np.asarray(tiny_codec.decompress(data)),
                          np.asarray(tiny_codec.decompress(data, layers=tiny_codec.num_layers)))
    decoded = to_tensor([np.asarray(tiny_codec.decompress(data))], 1)[..., :192, :256]
    assert float((decoded - image[..., :192, :256]).abs().max()) <= 0.5 / 255 + 1e-6
    finest = layers[-1]
    starts = [part.rows.start for part in finest.parts]
    if tiny_codec.config.context == "checkerboard":
        assert starts == [0, 4, 0, 8, 4, 8]
        assert [bool(part.mask[0, 0]) for part in finest.parts] == [True, True, False, True, False, False]
    else:
        assert starts == [0, 4, 8] and all(part.mask is None for part in finest.parts)
    whole = bands.LAYER_BAND_POSITIONS
    bands.LAYER_BAND_POSITIONS = 10 ** 9  # (the fixture restores it) one band: version 4's pass
    try:
        one_band = coder.encode(x, 4.0)
    finally:
        bands.LAYER_BAND_POSITIONS = whole
    assert one_band[-1].parts is None or all(part.rows == slice(None) for part in one_band[-1].parts)
    for a, b in zip(layers, one_band):
        assert np.array_equal(a.values, b.values) and np.array_equal(a.table_ids, b.table_ids)


def test_a_layer_within_one_band_is_coded_as_in_version_4(tiny_codec):
    """Version 5 differs from version 4 only for a finest layer of more than one band."""
    img = natural_image(96, 128, seed=6)
    data = tiny_codec.compress(img, 4.0)
    parsed = container.parse(data)
    relabelled = container.serialize(replace(parsed.header, version=4), list(parsed.chunks))
    assert np.array_equal(np.asarray(tiny_codec.decompress(relabelled)), np.asarray(tiny_codec.decompress(data)))


def test_no_tensor_of_the_prior_s_width_spans_the_finest_layer(shipped_codec, small_layer_bands, monkeypatch):
    """What bounds the memory of version 5: every convolution output in the finest layer's prior
    and context covers one band and its halo, never the whole layer."""
    img = natural_image(16 * 24, 16 * 20, seed=7)  # 20 x 24 latents: 3 rows a band
    data = shipped_codec.compress(img, 6.0)
    width = 2 * shipped_codec.config.latent_channels[-1]
    seen = []
    original = torch.nn.functional.conv2d

    def recording(x, weight, *args, **kwargs):
        out = original(x, weight, *args, **kwargs)
        if out.shape[1] == width:
            seen.append(out.shape[-2])
        return out
    monkeypatch.setattr(torch.nn.functional, "conv2d", recording)
    shipped_codec.decode_symbols(data)
    monkeypatch.undo()
    assert seen and max(seen) <= 3 + 4  # a band's rows and the prior's halo, at most


def _counting(fn, calls, name):
    def wrapped(*args, **kwargs):
        calls[name] += 1
        return fn(*args, **kwargs)
    return wrapped

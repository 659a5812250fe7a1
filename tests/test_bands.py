"""The top-down convolutions in bands of rows (format version 4): the same values as a whole
pass up to the last bit, each band bounded in size, and files of earlier versions unbanded."""
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
    """A file of version 4 decodes through the banded pass, one of version 3 through the whole
    pass; on the same symbols both derive the same table ids here (bands move values by ulps)."""
    coder = shipped_codec._coder
    img = natural_image(16 * 40, 16 * 24, seed=3)
    data = shipped_codec.compress(img, 6.0)
    parsed = container.parse(data)
    assert parsed.header.version == container.VERSION == 4
    calls = {"banded": 0, "whole": 0}
    for name, model in (("banded", coder.banded_model), ("whole", coder.top_down_model)):
        monkeypatch.setattr(model, "top_down", _counting(model.top_down, calls, name))
    v4 = shipped_codec.decode_symbols(data)
    assert calls == {"banded": 1, "whole": 0}
    old = container.serialize(replace(parsed.header, version=3), list(parsed.chunks))
    v3 = shipped_codec.decode_symbols(old)
    assert calls == {"banded": 1, "whole": 1}
    for a, b in zip(v4, v3):
        assert np.array_equal(a.table_ids, b.table_ids) and np.array_equal(a.values, b.values)
    x = to_tensor([img], shipped_codec.config.pad_multiple)
    assert [layer.values.tolist() for layer in coder.encode(x, 6.0)] == [layer.values.tolist() for layer in v4]


def _counting(fn, calls, name):
    def wrapped(*args, **kwargs):
        calls[name] += 1
        return fn(*args, **kwargs)
    return wrapped

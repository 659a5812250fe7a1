import numpy as np
import pytest
from PIL import Image

from codec import CodecError, CodecWarning

from conftest import natural_image


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (5, 3), (65, 70), (129, 64)])
def test_any_size(tiny_codec, size):
    w, h = size
    out = tiny_codec.decompress(tiny_codec.compress(natural_image(h, w), 2.0))
    assert out.size == (w, h) and out.mode == "RGB"


def test_gray_decodes_to_gray(tiny_codec):
    im = Image.fromarray(natural_image(20, 30)).convert("L")
    out = tiny_codec.decompress(tiny_codec.compress(im, 2.0))
    assert out.mode == "L" and out.size == (30, 20)


def test_rgba_drops_alpha_with_warning(tiny_codec):
    im = Image.fromarray(natural_image(20, 30)).convert("RGBA")
    with pytest.warns(CodecWarning, match="alpha"):
        data = tiny_codec.compress(im, 2.0)
    assert tiny_codec.decompress(data).mode == "RGB"


def test_palette_expands(tiny_codec):
    im = Image.fromarray(natural_image(20, 30)).convert("P")
    assert tiny_codec.decompress(tiny_codec.compress(im, 2.0)).mode == "RGB"


def test_16bit_converted_with_warning(tiny_codec):
    a = (np.linspace(0, 65535, 20 * 30).reshape(20, 30)).astype(np.uint16)
    im = Image.fromarray(a)
    assert im.mode.startswith("I")
    with pytest.warns(CodecWarning, match="8-bit"):
        data = tiny_codec.compress(im, 2.0)
    assert tiny_codec.decompress(data).mode == "L"
    with pytest.warns(CodecWarning):
        tiny_codec.compress(np.stack([a] * 3, -1), 2.0)


@pytest.mark.parametrize("mode", ["1", "LA", "CMYK", "YCbCr", "I", "F"])
def test_other_modes(tiny_codec, mode):
    im = Image.fromarray(natural_image(12, 17)).convert(mode)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CodecWarning)
            out = tiny_codec.decompress(tiny_codec.compress(im, 2.0))
    assert out.size == (17, 12)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4), np.float32),
                                 np.zeros((0, 4, 3), np.uint8), "image.png", None])
def test_bad_arrays(tiny_codec, bad):
    with pytest.raises(CodecError):
        tiny_codec.compress(bad, 2.0)


def test_batch_needs_same_size(tiny_codec):
    with pytest.raises(CodecError, match="same size"):
        tiny_codec.compress_batch([natural_image(8, 8), natural_image(8, 9)], 2.0)


def test_whole_validation_images_are_cut_to_the_top_stride():
    from codec.training.data import whole_images

    images = [np.zeros((321, 481, 3), np.uint8), np.zeros((2000, 3000, 3), np.uint8), np.zeros((40, 90, 3), np.uint8)]
    out = whole_images(images, 64)
    assert [tuple(x.shape) for x in out[:1]] == [(1, 3, 320, 448)]
    h, w = out[1].shape[2:]
    assert h % 64 == 0 and w % 64 == 0 and h * w <= 768 * 512 and abs(w / h - 1.5) < 0.2
    assert len(out) == 2  # smaller than one top-layer position: left out

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


def _alpha(h, w):
    """A transparency plane with hard edges, a ramp and fully transparent parts."""
    a = np.zeros((h, w), np.uint8)
    a[:, w // 3:] = np.linspace(0, 255, w - w // 3).astype(np.uint8)
    a[h // 2:, : w // 4] = 255
    return a


@pytest.mark.parametrize("mode, decoded", [("RGBA", "RGBA"), ("LA", "LA"), ("PA", "RGBA"), ("RGBa", "RGBA"),
                                           ("La", "LA")])
def test_alpha_is_kept_losslessly(tiny_codec, mode, decoded):
    rgba = np.dstack([natural_image(20, 30), _alpha(20, 30)])
    im = Image.fromarray(rgba, "RGBA")
    im = im.convert("P").convert("PA") if mode == "PA" else im.convert(mode)
    expected = np.asarray(im.convert("LA" if decoded == "LA" else "RGBA"))[..., -1]
    out = tiny_codec.decompress(tiny_codec.compress(im, 2.0))
    assert out.mode == decoded and np.array_equal(np.asarray(out)[..., -1], expected)
    # a prefix of the layers keeps the alpha plane too (it comes before the layers)
    assert np.array_equal(np.asarray(tiny_codec.decompress(tiny_codec.compress(im, 2.0), layers=1))[..., -1], expected)


def test_arrays_with_alpha(tiny_codec):
    rgba = np.dstack([natural_image(20, 30), _alpha(20, 30)])
    out = tiny_codec.decompress(tiny_codec.compress(rgba, 2.0))
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], rgba[..., 3])
    la = np.dstack([rgba[..., 0], rgba[..., 3]])
    out = tiny_codec.decompress(tiny_codec.compress(la, 2.0))
    assert out.mode == "LA" and np.array_equal(np.asarray(out)[..., 1], la[..., 1])


def test_palette_transparency_is_kept(tiny_codec):
    im = Image.fromarray(natural_image(20, 30)).convert("P")
    im.info["transparency"] = im.getpixel((0, 0))  # a palette entry the image uses
    expected = np.asarray(im.convert("RGBA"))[..., 3]
    out = tiny_codec.decompress(tiny_codec.compress(im, 2.0))
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], expected) and (expected == 0).any()


def test_an_alpha_chunk_that_is_no_plane_of_the_image_is_a_format_error(tiny_codec):
    from dataclasses import replace
    import io

    from codec import FormatError, container

    rgba = np.dstack([natural_image(20, 30), _alpha(20, 30)])
    parsed = container.parse(tiny_codec.compress(rgba, 2.0))
    for plane in (Image.new("L", (29, 20)), Image.new("RGB", (30, 20))):
        buf = io.BytesIO()
        plane.save(buf, "PNG")
        bad = container.serialize(parsed.header, list(parsed.chunks), buf.getvalue())
        with pytest.raises(FormatError, match="alpha"):
            tiny_codec.decompress(bad)
    with pytest.raises(FormatError, match="alpha"):
        tiny_codec.decompress(container.serialize(parsed.header, list(parsed.chunks), b"not a png"))
    assert replace(parsed.header, mode="RGB")  # the colour planes alone are a valid RGB file
    assert tiny_codec.decompress(container.serialize(replace(parsed.header, mode="RGB"), list(parsed.chunks))).mode == "RGB"


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


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4), np.float32),
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


def test_a_feathered_matte_is_stored_as_lossless_webp_and_comes_back_exactly(tiny_codec):
    import io

    from PIL import ImageFilter

    from codec import FormatError, container

    matte = Image.new("L", (96, 64), 0)
    matte.paste(255, (20, 10, 76, 54))
    matte = matte.filter(ImageFilter.GaussianBlur(6))
    matte = Image.fromarray((np.asarray(matte) ^ (np.arange(96) % 3).astype(np.uint8)[None]), "L")  # noisy edges
    im = Image.fromarray(natural_image(64, 96)).convert("RGB")
    im.putalpha(matte)
    data = tiny_codec.compress(im, 2.0)
    chunk = container.parse(data).alpha
    png = io.BytesIO()
    matte.save(png, "PNG", compress_level=9)
    assert chunk[:4] == b"RIFF" and len(chunk) < len(png.getvalue())  # the smaller of the two: WebP here
    assert np.array_equal(np.asarray(tiny_codec.decompress(data))[..., 3], np.asarray(matte))
    colour = io.BytesIO()
    Image.fromarray(natural_image(64, 96)).save(colour, "WEBP", lossless=True)
    parsed = container.parse(data)
    with pytest.raises(FormatError, match="colour WebP"):
        tiny_codec.decompress(container.serialize(parsed.header, list(parsed.chunks), colour.getvalue()))

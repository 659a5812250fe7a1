"""The Pillow plugin, through Pillow's own API only: Image.open, load, save."""
import io

import numpy as np
import pytest
from PIL import Image, ImageFile, UnidentifiedImageError

import codec  # noqa: F401 - registers .hvc

from conftest import natural_image


@pytest.fixture()
def saved(tmp_path, use_tiny_checkpoints):
    rgba = np.dstack([natural_image(30, 44, seed=6), np.linspace(0, 255, 44).astype(np.uint8)[None].repeat(30, 0)])
    im = Image.fromarray(rgba, "RGBA")
    path = tmp_path / "x.hvc"
    im.save(path, quality=3, icc_profile=b"profile bytes")
    return path, im


def test_registered_by_import_codec():
    assert Image.registered_extensions()[".hvc"] == "HVC"
    assert Image.MIME["HVC"] == "image/x-hvc"


def test_open_knows_size_mode_and_info_before_load(saved):
    path, im = saved
    with Image.open(path) as out:
        assert (out.format, out.size, out.mode) == ("HVC", (44, 30), "RGBA")
        assert out.info["quality"] == 3 and out.info["model"] == "tiny" and out.info["layers"] == (3, 3)
        assert out.info["icc_profile"] == b"profile bytes"
        assert out.get_format_mimetype() == "image/x-hvc"
        out.load()
        assert np.array_equal(np.asarray(out)[..., 3], np.asarray(im)[..., 3])
        assert out.convert("RGB").size == (44, 30)


def test_save_through_pillow_equals_the_api(saved, tmp_path):
    path, im = saved
    assert path.read_bytes() == codec.compress(im, 3, metadata={"icc": b"profile bytes"})
    buf = io.BytesIO()
    im.save(buf, format="HVC", quality=3, metadata="none")
    assert buf.getvalue() == codec.compress(im, 3, metadata="none")
    with pytest.raises(OSError, match="quality"):
        im.save(tmp_path / "bad.hvc", quality=99)


def test_a_prefix_opens_as_the_coarser_image(saved):
    path, _ = saved
    data = path.read_bytes()
    parsed = codec.container.parse(data)
    prefix = data[: parsed.header_size + parsed.side_size + parsed.chunk_sizes[0]]
    with Image.open(io.BytesIO(prefix)) as out:
        assert out.info["layers"] == (1, 3)
        out.load()
        assert np.array_equal(np.asarray(out), np.asarray(codec.decompress(prefix)))


def test_truncated_inside_a_chunk_fails_in_load_unless_load_truncated_images(saved, monkeypatch):
    path, _ = saved
    data = path.read_bytes()
    cut = data[:-3]
    with Image.open(io.BytesIO(cut)) as out:
        assert out.size == (44, 30) and out.info["layers"] == (2, 3)
        with pytest.raises(OSError, match="truncated"):
            out.load()
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with Image.open(io.BytesIO(cut)) as out:
        out.load()  # its two whole layers
        parsed = codec.container.parse(data)
        two = data[: parsed.header_size + parsed.side_size + sum(parsed.chunk_sizes[:2])]
        assert np.array_equal(np.asarray(out), np.asarray(codec.decompress(two)))


def test_corrupted_files(saved):
    path, _ = saved
    data = bytearray(path.read_bytes())
    body = bytearray(data)
    body[-5] ^= 0x10  # in the last layer
    with Image.open(io.BytesIO(bytes(body))) as out:
        with pytest.raises(OSError, match="checksum"):
            out.load()
    head = bytearray(data)
    head[9] ^= 1  # the width, under the header CRC
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(bytes(head)))
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(b"HVC\x89" + bytes(10)))


def test_metadata_through_pillow_save_and_open(tmp_path, use_tiny_checkpoints):
    """ICC, EXIF (orientation, GPS) and XMP given to save() come back byte for byte from open();
    by default save() keeps the image's own, and empty values drop them."""
    exif = Image.Exif()
    exif[0x0112] = 8
    exif[0x8825] = {1: "S", 2: (33.0, 51.0, 0.0)}
    im = Image.fromarray(natural_image(24, 32, seed=9))
    path = tmp_path / "m.hvc"
    im.save(path, quality=2, icc_profile=b"icc!", exif=exif, xmp=b"<x:xmpmeta/>")
    with Image.open(path) as out:
        assert out.info["icc_profile"] == b"icc!" and out.info["xmp"] == b"<x:xmpmeta/>"
        assert out.info["exif"] == exif.tobytes()
        assert out.getexif()[0x0112] == 8 and out.getexif().get_ifd(0x8825)[1] == "S"
        out.load()
        again = tmp_path / "again.hvc"
        out.save(again, quality=2)  # the opened image's own metadata is kept
        stripped = tmp_path / "stripped.hvc"
        out.save(stripped, quality=2, exif=b"")
    with Image.open(again) as a, Image.open(stripped) as s:
        assert a.info["exif"] == exif.tobytes() and a.info["icc_profile"] == b"icc!"
        assert "exif" not in s.info and s.info["xmp"] == b"<x:xmpmeta/>"

"""ICC profile, EXIF and XMP: kept byte for byte through the API, the CLI and Pillow."""
import io

import numpy as np
import pytest
from PIL import Image, ImageCms

import codec
from codec import CodecError, FormatError, container
from codec.cli import main

from conftest import natural_image

XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
       b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta><?xpacket end="w"?>')


def photo() -> Image.Image:
    """A JPEG as a phone writes one: an ICC profile, EXIF with orientation and GPS, XMP."""
    im = Image.fromarray(natural_image(40, 56, seed=4))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    exif[0x010F] = "TestCam"
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 0.0)}
    buf = io.BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    im.save(buf, "JPEG", quality=95, icc_profile=icc, exif=exif.tobytes(), xmp=XMP)
    return Image.open(io.BytesIO(buf.getvalue()))


def kinds(im):
    return {k: im.info.get(k) for k in ("icc_profile", "exif", "xmp")}


def test_api_round_trip_keeps_all_three_byte_for_byte(tiny_codec):
    src = photo()
    assert all(kinds(src).values())
    out = tiny_codec.decompress(tiny_codec.compress(src, 2.0))
    assert kinds(out) == kinds(src)
    assert out.getexif()[0x0112] == 6 and out.getexif().get_ifd(0x8825)[1] == "N"
    # a progressive prefix carries them too (they come before the layers)
    assert kinds(tiny_codec.decompress(tiny_codec.compress(src, 2.0), layers=1)) == kinds(src)


@pytest.mark.parametrize("keep, expected", [("none", set()), ("icc", {"icc"}), ("exif,xmp", {"exif", "xmp"}),
                                            (["xmp"], {"xmp"}), ("all", {"icc", "exif", "xmp"})])
def test_metadata_selects_what_is_kept(tiny_codec, keep, expected):
    data = tiny_codec.compress(photo(), 2.0, metadata=keep)
    assert set(container.parse(data).metadata) == expected


def test_metadata_given_as_bytes_and_bad_options(tiny_codec):
    data = tiny_codec.compress(natural_image(16, 16), 2.0, metadata={"icc": b"profile"})
    assert tiny_codec.decompress(data).info["icc_profile"] == b"profile"
    for bad in ("gps", {"gps": b"x"}, {"icc": "text"}, 7):
        with pytest.raises(CodecError, match="metadata"):
            tiny_codec.compress(natural_image(16, 16), 2.0, metadata=bad)


def test_malformed_metadata_in_the_input_is_dropped_with_a_warning(tiny_codec):
    im = Image.fromarray(natural_image(16, 16))
    im.info["icc_profile"] = 12345  # not bytes: what a broken plugin might leave
    with pytest.warns(codec.CodecWarning, match="icc"):
        data = tiny_codec.compress(im, 2.0)
    assert container.parse(data).metadata == {}


def test_a_damaged_metadata_chunk_is_a_format_error(tiny_codec):
    data = bytearray(tiny_codec.compress(photo(), 2.0))
    parsed = container.parse(bytes(data))
    data[parsed.header_size + 20] ^= 1  # inside the ICC profile
    with pytest.raises(FormatError, match="ICC profile chunk checksum"):
        tiny_codec.decompress(bytes(data))
    cut = bytes(data[: parsed.header_size + 12])
    with pytest.raises(FormatError, match="truncated"):
        tiny_codec.decompress(cut)


def test_version_3_cannot_carry_metadata_or_alpha():
    from dataclasses import replace

    header = container.Header(8, 8, "RGB", 1, 2000, "m", b"\0" * 8, 3)
    with pytest.raises(FormatError, match="version 4"):
        container.serialize(header, [b"\0" * 4], metadata={"icc": b"x"})
    with pytest.raises(FormatError, match="version 4"):
        container.serialize(replace(header, mode="RGBA"), [b"\0" * 4], alpha=b"png")
    # a version 3 file whose flags claim metadata is rejected
    four = container.serialize(replace(header, version=4), [b"\0" * 4], metadata={"exif": b"x"})
    three = bytearray(four[:4] + b"\x03" + four[5:])
    import struct
    import zlib

    size = container.parse(four).header_size
    three[size - 4:size] = struct.pack("<I", zlib.crc32(bytes(three[:size - 4])))
    with pytest.raises(FormatError, match="flags"):
        container.parse(bytes(three))


@pytest.fixture()
def workdir(tmp_path, monkeypatch, use_tiny_checkpoints):
    monkeypatch.chdir(tmp_path)
    photo().save("photo.jpg", icc_profile=photo().info["icc_profile"], exif=photo().info["exif"], xmp=XMP)
    return tmp_path


@pytest.mark.parametrize("out", ["photo.decoded.png", "out.jpg", "out.webp", "out.tiff"])
def test_cli_round_trip_writes_them_into_the_output(workdir, out):
    src = kinds(Image.open("photo.jpg"))
    assert main(["compress", "photo.jpg", "-q", "2"]) == 0
    assert main(["decompress", "photo.hvc"] + ([] if out == "photo.decoded.png" else ["-o", out])) == 0
    got = kinds(Image.open(out))
    assert got["icc_profile"] == src["icc_profile"]
    assert Image.open(out).getexif()[0x0112] == 6
    if out != "out.tiff":  # Pillow's TIFF reader gives its EXIF as tags, not as the block
        assert got["exif"].removeprefix(b"Exif\x00\x00") == src["exif"].removeprefix(b"Exif\x00\x00")
    xmp = got["xmp"].encode() if isinstance(got["xmp"], str) else got["xmp"]
    assert xmp == XMP


def test_cli_metadata_none_strips_them_and_info_shows_sizes(workdir, capsys):
    assert main(["compress", "photo.jpg", "-o", "bare.hvc", "--metadata", "none"]) == 0
    assert main(["compress", "photo.jpg", "-o", "full.hvc"]) == 0
    capsys.readouterr()
    assert main(["info", "bare.hvc", "full.hvc"]) == 0
    text = capsys.readouterr().out
    bare, full = text.split("full.hvc:")
    assert "ICC" not in bare and "EXIF" not in bare
    assert f"ICC profile: {len(photo().info['icc_profile'])} bytes" in full and "XMP" in full
    assert main(["compress", "photo.jpg", "-o", "x.hvc", "--metadata", "gps"]) == 1


def test_formats_without_metadata_drop_it_with_a_warning(workdir, capsys):
    assert main(["compress", "photo.jpg", "-q", "2"]) == 0
    assert main(["decompress", "photo.hvc", "-o", "out.bmp"]) == 0
    assert "BMP cannot hold its ICC, EXIF, XMP metadata" in capsys.readouterr().err

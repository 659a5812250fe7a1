import struct
import zlib

import numpy as np
import pytest

from codec import FormatError
from codec.container import MAGIC, VERSION, Header, parse, serialize

HEADER = Header(width=70, height=65, mode="RGB", num_layers=3, quality_milli=2500,
                model_name="tiny", weights_digest=bytes(range(8)))
CHUNKS = [b"\x01\x02\x03\x04", b"\x05" * 8, b"\x06" * 12]


def test_round_trip():
    data = serialize(HEADER, CHUNKS)
    c = parse(data)
    assert c.header == HEADER and list(c.chunks) == CHUNKS
    assert c.header_size == 19 + 4 + 8 + 4
    assert len(data) == c.header_size + sum(c.chunk_sizes)


def test_layout_is_little_endian_and_documented():
    data = serialize(HEADER, CHUNKS)
    assert data[:4] == MAGIC and data[4] == VERSION == 5
    assert struct.unpack_from("<II", data, 8) == (70, 65)
    assert struct.unpack_from("<H", data, 16)[0] == 2500
    pos = 35
    assert struct.unpack_from("<II", data, pos) == (4, zlib.crc32(CHUNKS[0]))


def test_prefix_after_each_chunk_parses():
    data = serialize(HEADER, CHUNKS)
    c = parse(data)
    end = c.header_size
    for k, size in enumerate(c.chunk_sizes, start=1):
        end += size
        assert len(parse(data[:end]).chunks) == k


def _with_header_crc(data: bytes, header_size: int) -> bytes:
    body = data[: header_size - 4]
    return body + struct.pack("<I", zlib.crc32(body)) + data[header_size:]


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"XXXX" + d[4:], "magic"),
    (lambda d: _with_header_crc(d[:4] + b"\x07" + d[5:], 35), "version"),
    (lambda d: d[:20] + bytes([d[20] ^ 1]) + d[21:], "checksum"),
    (lambda d: d[:-1] + bytes([d[-1] ^ 0xFF]), "checksum"),
    (lambda d: d[:-3], "truncated"),
    (lambda d: d[:37], "truncated"),
    (lambda d: d[:10], "truncated"),
    (lambda d: d + b"\0", "unexpected"),
    (lambda d: d[:35] + struct.pack("<I", 1 << 30) + d[39:], "claims"),
    (lambda d: d[:35] + struct.pack("<I", 6) + d[39:], "multiple of 4"),
    (lambda d: _with_header_crc(d[:8] + struct.pack("<I", 0) + d[12:], 35), "size"),
    (lambda d: _with_header_crc(d[:8] + struct.pack("<II", 1 << 20, 1 << 20) + d[16:], 35), "size"),
    (lambda d: _with_header_crc(d[:6] + b"\x05" + d[7:], 35), "mode"),
    (lambda d: _with_header_crc(d[:7] + b"\x00" + d[8:], 35), "layer count"),
    (lambda d: d[:35], "no layer data"),
    (lambda d: b"", "magic"),
])
def test_malformed_files_raise_format_error(mutate, message):
    with pytest.raises(FormatError, match=message):
        parse(mutate(serialize(HEADER, CHUNKS)))


def test_non_bytes_input():
    with pytest.raises(FormatError):
        parse("not bytes")


def test_serialize_validates():
    with pytest.raises(FormatError):
        serialize(HEADER, CHUNKS[:2])
    with pytest.raises(FormatError):
        serialize(HEADER, [b"\0" * 3] * 3)


def test_versions_2_to_4_are_still_read_and_new_files_are_version_5():
    from dataclasses import replace

    old = serialize(replace(HEADER, version=2), CHUNKS)
    assert old[4] == 2 and parse(old).header == replace(HEADER, version=2)
    assert parse(serialize(HEADER, CHUNKS)).header.version == VERSION == 5
    for version in (3, 4):
        assert parse(serialize(replace(HEADER, version=version), CHUNKS)).header == replace(HEADER, version=version)


def test_alpha_and_metadata_chunks_come_before_the_layers():
    from dataclasses import replace

    header = replace(HEADER, mode="RGBA")
    meta = {"xmp": b"<x/>", "icc": b"p" * 9}
    data = serialize(header, CHUNKS, b"alpha png", meta)
    c = parse(data)
    assert c.alpha == b"alpha png" and c.metadata == meta and list(c.chunks) == CHUNKS
    assert data[5] == 0b101  # flags: ICC and XMP
    assert c.side_size == 3 * 8 + len(b"alpha png") + 9 + 4 and c.size == len(data)
    # order on disk: alpha, ICC, EXIF, XMP, then the layers
    pos = c.header_size
    for payload in (b"alpha png", b"p" * 9, b"<x/>"):
        assert struct.unpack_from("<II", data, pos) == (len(payload), zlib.crc32(payload))
        pos += 8 + len(payload)
    # every prefix that ends after a layer keeps them
    assert parse(data[: c.header_size + c.side_size + c.chunk_sizes[0]]).metadata == meta
    with pytest.raises(FormatError, match="alpha"):
        serialize(HEADER, CHUNKS, b"alpha for an RGB image")
    with pytest.raises(FormatError, match="alpha"):
        serialize(header, CHUNKS)
    with pytest.raises(FormatError, match="unknown metadata"):
        serialize(HEADER, CHUNKS, metadata={"gps": b"x"})


def test_complete_layers_cuts_a_damaged_file_to_its_whole_sound_layers():
    from codec.container import complete_layers

    data = serialize(HEADER, CHUNKS)
    c = parse(data)
    ends = [c.header_size + sum(c.chunk_sizes[:k]) for k in (1, 2, 3)]
    assert complete_layers(data) == data
    assert complete_layers(data[:-1]) == data[: ends[1]]
    bad = bytearray(data)
    bad[ends[1] + 9] ^= 1  # the third layer's payload
    assert complete_layers(bytes(bad)) == data[: ends[1]]
    assert complete_layers(data[: ends[0] - 1]) is None  # not even one layer
    assert complete_layers(b"junk") is None

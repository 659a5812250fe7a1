"""The ``.hvc`` file format: the only module that knows the byte layout.

All integers are little-endian; docs/FORMAT.md gives the layout byte by byte: a
header (magic, version, mode, layer count, size, quality, model name and weights digest,
CRC32), then one chunk per latent layer in decode order (length, CRC32, ANS payload).

A file that ends exactly after chunk k (k >= 1) is a valid progressive prefix and
decodes to the k-layer image. Anything else malformed raises :class:`FormatError`.
Parsing costs O(file size) time and memory whatever the header says.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .errors import FormatError

MAGIC = b"HVC\x89"
# 2: every table ends in an escape symbol (codec.ans). 3: the synthesis of images wider or
# taller than one tile runs over tiles (codec.latent_codec.TILE), which can move a few 8-bit
# values of such images by 1 against one whole-image pass; version 2 files decode in one pass.
# 4: the top-down pass's convolutions run in bands of rows (codec.bands), which bounds their
# memory and can move a value in its last bit; version 2 and 3 files decode without bands.
VERSION = 4
READABLE = (2, 3, 4)  # every version a shipped model ever wrote
MAX_SIDE = 32768
MAX_PIXELS = 1 << 27  # about 134 megapixels
MAX_LAYERS = 16
MODES = {"L": 1, "RGB": 3}
_MODE_NAMES = {v: k for k, v in MODES.items()}
_FIXED = struct.Struct("<4sBBBBIIHB")  # magic .. name length: 19 bytes
_CHUNK = struct.Struct("<II")


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    mode: str  # "L" or "RGB"
    num_layers: int
    quality_milli: int
    model_name: str
    weights_digest: bytes  # 8 bytes
    version: int = VERSION  # what a parsed file says; a new file is written in VERSION

    @property
    def quality(self) -> float:
        return self.quality_milli / 1000


@dataclass(frozen=True)
class Container:
    header: Header
    chunks: tuple[bytes, ...]  # payloads present, top layer first
    header_size: int

    @property
    def chunk_sizes(self) -> tuple[int, ...]:
        """Bytes each layer occupies in the file, chunk framing included."""
        return tuple(_CHUNK.size + len(c) for c in self.chunks)


def check_dimensions(width: int, height: int) -> None:
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise FormatError(f"image size {width}x{height} is outside 1..{MAX_SIDE} pixels per side")
    if width * height > MAX_PIXELS:
        raise FormatError(f"image size {width}x{height} exceeds {MAX_PIXELS} pixels")


def _validate(h: Header) -> None:
    check_dimensions(h.width, h.height)
    if h.mode not in MODES:
        raise FormatError(f"unsupported image mode {h.mode!r}")
    if not 1 <= h.num_layers <= MAX_LAYERS:
        raise FormatError(f"layer count {h.num_layers} is outside 1..{MAX_LAYERS}")
    name = h.model_name.encode("utf-8")
    if not 1 <= len(name) <= 64:
        raise FormatError("model name must be 1..64 bytes of UTF-8")
    if len(h.weights_digest) != 8:
        raise FormatError("weights digest must be 8 bytes")
    if not 1000 <= h.quality_milli <= 0xFFFF:
        raise FormatError(f"quality {h.quality_milli / 1000} is outside 1..65.535")


def serialize(header: Header, chunks: list[bytes]) -> bytes:
    _validate(header)
    if len(chunks) != header.num_layers:
        raise FormatError(f"{len(chunks)} chunks for {header.num_layers} layers")
    name = header.model_name.encode("utf-8")
    if header.version not in READABLE:
        raise FormatError(f"cannot write format version {header.version}")
    head = _FIXED.pack(MAGIC, header.version, 0, MODES[header.mode], header.num_layers, header.width,
                       header.height, header.quality_milli, len(name)) + name + header.weights_digest
    parts = [head, struct.pack("<I", zlib.crc32(head))]
    for payload in chunks:
        if len(payload) % 4:
            raise FormatError("a layer payload must be a whole number of 32-bit words")
        parts += [_CHUNK.pack(len(payload), zlib.crc32(payload)), payload]
    return b"".join(parts)


def parse(data: bytes) -> Container:
    """Validate and split a file. Raises :class:`FormatError` with a specific message."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FormatError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 4 or data[:4] != MAGIC:
        raise FormatError("not an .hvc file (bad magic bytes)")
    if len(data) < _FIXED.size:
        raise FormatError("file is truncated inside its header")
    magic, version, flags, mode, num_layers, width, height, quality_milli, name_len = _FIXED.unpack_from(data)
    if version not in READABLE:
        raise FormatError(f"unknown format version {version} (this decoder reads versions "
                          f"{', '.join(map(str, READABLE))})")
    header_size = _FIXED.size + name_len + 8 + 4
    if len(data) < header_size:
        raise FormatError("file is truncated inside its header")
    crc = struct.unpack_from("<I", data, header_size - 4)[0]
    if zlib.crc32(data[: header_size - 4]) != crc:
        raise FormatError("header checksum mismatch (corrupted file)")
    if flags != 0:
        raise FormatError(f"unknown header flags {flags:#x}")
    if mode not in _MODE_NAMES:
        raise FormatError(f"unknown image mode code {mode}")
    try:
        name = data[_FIXED.size : _FIXED.size + name_len].decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("model name is not valid UTF-8") from None
    digest = data[_FIXED.size + name_len : header_size - 4]
    header = Header(width, height, _MODE_NAMES[mode], num_layers, quality_milli, name, digest, version)
    _validate(header)

    chunks = []
    pos = header_size
    while pos < len(data):
        k = len(chunks)
        if k == num_layers:
            raise FormatError(f"{len(data) - pos} unexpected bytes after the last layer")
        if len(data) - pos < _CHUNK.size:
            raise FormatError(f"file is truncated inside the framing of layer {k + 1}")
        length, crc = _CHUNK.unpack_from(data, pos)
        pos += _CHUNK.size
        if length % 4:
            raise FormatError(f"layer {k + 1} length {length} is not a multiple of 4")
        if length > len(data) - pos:
            raise FormatError(f"layer {k + 1} claims {length} bytes but only {len(data) - pos} remain "
                              "(truncated file)")
        payload = data[pos : pos + length]
        if zlib.crc32(payload) != crc:
            raise FormatError(f"layer {k + 1} checksum mismatch (corrupted file)")
        chunks.append(payload)
        pos += length
    if not chunks:
        raise FormatError("file holds a header but no layer data")
    return Container(header, tuple(chunks), header_size)

"""The ``.hvc`` file format: the only module that knows the byte layout.

All integers are little-endian; docs/FORMAT.md gives the layout byte by byte: a
header (magic, version, flags, mode, layer count, size, quality, model name and weights digest,
CRC32), from version 4 an alpha chunk (modes LA, RGBA) and one chunk per metadata kind the
flags name (ICC profile, EXIF, XMP), then one chunk per latent layer in decode order (each
chunk: length, CRC32, payload).

A file that ends exactly after chunk k (k >= 1) is a valid progressive prefix and
decodes to the k-layer image. Anything else malformed raises :class:`FormatError`.
Parsing costs O(file size) time and memory whatever the header says.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from .errors import FormatError

MAGIC = b"HVC\x89"
# 2: every table ends in an escape symbol (codec.ans). 3: the synthesis of images wider or
# taller than one tile runs over tiles (codec.latent_codec.TILE), which can move a few 8-bit
# values of such images by 1 against one whole-image pass; version 2 files decode in one pass.
# 4: the top-down pass's convolutions run in bands of rows (codec.bands), which bounds their
# memory and can move a value in its last bit; version 2 and 3 files decode without bands.
# 5: the finest layer is computed and coded in bands of rows (codec.bands.LAYER_BAND_POSITIONS),
# a band's other half after the next band's anchors: a layer in more than one band has another
# stream and can differ in its last bits; a layer within one band is coded as in version 4.
VERSION = 5
READABLE = (2, 3, 4, 5)  # every version a shipped model ever wrote
MAX_SIDE = 32768
MAX_PIXELS = 1 << 27  # about 134 megapixels
MAX_LAYERS = 16
# Decoding a file of version 5 costs about 40-50 MB of memory per megapixel above the ~0.6 GB
# torch and the model take (measured, whole CLI process: 1.4 GiB at 3840x2160, 1.8 GiB at
# 6000x4000), and a file of a few dozen bytes can claim 8192x4096 (a valid one-layer prefix).
# So, in the spirit of Pillow's Image.MAX_IMAGE_PIXELS, files claiming more than this are
# refused unless the caller raises the limit: a 6000x4000 photo passes. (The decoder applies
# it; the container only parses.)
MAX_DECODE_PIXELS = 25_000_000
MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}  # LA and RGBA (an alpha chunk): version 4 on
ALPHA_MODES = ("LA", "RGBA")
# Metadata a file may carry as given (version 4 on): header flag bit -> kind, in chunk order.
METADATA_KINDS = ("icc", "exif", "xmp")
MAX_SIDE_BYTES = 1 << 26  # an alpha plane or a metadata block: at most 64 MiB
_MODE_NAMES = {v: k for k, v in MODES.items()}
_FIXED = struct.Struct("<4sBBBBIIHB")  # magic .. name length: 19 bytes
_CHUNK = struct.Struct("<II")


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    mode: str  # "L", "RGB", or with alpha "LA", "RGBA"
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
    alpha: bytes | None = None  # the alpha plane as a PNG or lossless WebP (modes LA, RGBA)
    metadata: dict[str, bytes] = field(default_factory=dict)  # kind -> bytes as given
    side_size: int = 0  # bytes of the alpha and metadata chunks, framing included

    @property
    def chunk_sizes(self) -> tuple[int, ...]:
        """Bytes each layer occupies in the file, chunk framing included."""
        return tuple(_CHUNK.size + len(c) for c in self.chunks)

    @property
    def size(self) -> int:
        """Bytes of the file these parts came from."""
        return self.header_size + self.side_size + sum(self.chunk_sizes)


def check_dimensions(width: int, height: int) -> None:
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise FormatError(f"image size {width}x{height} is outside 1..{MAX_SIDE} pixels per side")
    if width * height > MAX_PIXELS:
        raise FormatError(f"image size {width}x{height} exceeds {MAX_PIXELS} pixels")


def _validate(h: Header) -> None:
    check_dimensions(h.width, h.height)
    if h.mode not in MODES:
        raise FormatError(f"unsupported image mode {h.mode!r}")
    if h.mode in ALPHA_MODES and h.version < 4:
        raise FormatError(f"mode {h.mode} needs format version 4 or later")
    if not 1 <= h.num_layers <= MAX_LAYERS:
        raise FormatError(f"layer count {h.num_layers} is outside 1..{MAX_LAYERS}")
    name = h.model_name.encode("utf-8")
    if not 1 <= len(name) <= 64:
        raise FormatError("model name must be 1..64 bytes of UTF-8")
    if len(h.weights_digest) != 8:
        raise FormatError("weights digest must be 8 bytes")
    if not 1000 <= h.quality_milli <= 0xFFFF:
        raise FormatError(f"quality {h.quality_milli / 1000} is outside 1..65.535")


def serialize(header: Header, chunks: list[bytes], alpha: bytes | None = None,
              metadata: dict[str, bytes] | None = None) -> bytes:
    """The file: header, the alpha chunk (modes LA and RGBA), one chunk per metadata kind given
    (in :data:`METADATA_KINDS` order), then one chunk per layer."""
    _validate(header)
    if len(chunks) != header.num_layers:
        raise FormatError(f"{len(chunks)} chunks for {header.num_layers} layers")
    metadata = {k: v for k, v in (metadata or {}).items() if v is not None}
    if unknown := set(metadata) - set(METADATA_KINDS):
        raise FormatError(f"unknown metadata kinds {sorted(unknown)} (known: {', '.join(METADATA_KINDS)})")
    if (alpha is not None) != (header.mode in ALPHA_MODES):
        raise FormatError(f"an alpha plane goes with modes {' and '.join(ALPHA_MODES)} only, not {header.mode}")
    if metadata and header.version < 4:
        raise FormatError("metadata needs format version 4 or later")
    name = header.model_name.encode("utf-8")
    if header.version not in READABLE:
        raise FormatError(f"cannot write format version {header.version}")
    flags = sum(1 << i for i, kind in enumerate(METADATA_KINDS) if kind in metadata)
    head = _FIXED.pack(MAGIC, header.version, flags, MODES[header.mode], header.num_layers, header.width,
                       header.height, header.quality_milli, len(name)) + name + header.weights_digest
    parts = [head, struct.pack("<I", zlib.crc32(head))]
    side = ([alpha] if alpha is not None else []) + [metadata[k] for k in METADATA_KINDS if k in metadata]
    for payload in side:
        if len(payload) > MAX_SIDE_BYTES:
            raise FormatError(f"an alpha plane or metadata block of {len(payload)} bytes is over {MAX_SIDE_BYTES}")
        parts += [_CHUNK.pack(len(payload), zlib.crc32(payload)), bytes(payload)]
    for payload in chunks:
        if len(payload) % 4:
            raise FormatError("a layer payload must be a whole number of 32-bit words")
        parts += [_CHUNK.pack(len(payload), zlib.crc32(payload)), payload]
    return b"".join(parts)


_SIDE_NAMES = {"alpha": "alpha chunk", "icc": "ICC profile chunk", "exif": "EXIF chunk", "xmp": "XMP chunk"}


def parse(data: bytes) -> Container:
    """Validate and split a file. Raises :class:`FormatError` with a specific message."""
    return _scan(data, complete_only=False)


def parse_header(data: bytes) -> Header:
    """The header alone, validated (the rest of the file may be missing or damaged)."""
    return _read_header(_as_bytes(data))[0]


def complete_layers(data: bytes) -> bytes | None:
    """The longest prefix of a damaged or truncated file that is a valid file: up to the last
    layer chunk that is whole and passes its CRC (None when the header, the alpha and metadata
    chunks or the first layer are not). What ``ImageFile.LOAD_TRUNCATED_IMAGES`` loads."""
    try:
        return data[: _scan(data, complete_only=True).size]
    except FormatError:
        return None


def _as_bytes(data) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FormatError(f"expected bytes, got {type(data).__name__}")
    return bytes(data)


def _read_header(data: bytes) -> tuple[Header, int, int]:
    """-> (header, its size in bytes, flags)."""
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
    known_flags = (1 << len(METADATA_KINDS)) - 1 if version >= 4 else 0
    if flags & ~known_flags:
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
    return header, header_size, flags


def _scan(data: bytes, complete_only: bool) -> Container:
    """Split a file into its chunks; ``complete_only``: stop, without error, before the first
    layer chunk that is cut short or fails its CRC (after at least one)."""
    data = _as_bytes(data)
    header, header_size, flags = _read_header(data)
    num_layers = header.num_layers

    # The alpha and metadata chunks, before the layers (so every progressive prefix has them).
    side = (["alpha"] if header.mode in ALPHA_MODES else []) + \
        [kind for i, kind in enumerate(METADATA_KINDS) if flags >> i & 1]
    found = {}
    pos = header_size
    for kind in side:
        what = _SIDE_NAMES[kind]
        if len(data) - pos < _CHUNK.size:
            raise FormatError(f"file is truncated inside the framing of its {what}")
        length, crc = _CHUNK.unpack_from(data, pos)
        pos += _CHUNK.size
        if length > len(data) - pos:
            raise FormatError(f"the {what} claims {length} bytes but only {len(data) - pos} remain (truncated file)")
        payload = data[pos : pos + length]
        if zlib.crc32(payload) != crc:
            raise FormatError(f"{what} checksum mismatch (corrupted file)")
        found[kind] = payload
        pos += length
    side_size = pos - header_size

    chunks = []
    while pos < len(data):
        k = len(chunks)
        if k == num_layers:
            if complete_only:
                break
            raise FormatError(f"{len(data) - pos} unexpected bytes after the last layer")
        if complete_only and chunks and not _whole_layer(data, pos):
            break
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
    return Container(header, tuple(chunks), header_size, found.pop("alpha", None), found, side_size)


def _whole_layer(data: bytes, pos: int) -> bool:
    """Is the layer chunk at ``pos`` whole and sound?"""
    if len(data) - pos < _CHUNK.size:
        return False
    length, crc = _CHUNK.unpack_from(data, pos)
    payload = data[pos + _CHUNK.size : pos + _CHUNK.size + length]
    return length % 4 == 0 and len(payload) == length and zlib.crc32(payload) == crc

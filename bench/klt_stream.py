"""The KLT transform coder's file: the only module that knows its byte layout.

    image -> pad -> b x b x 3 blocks -> minus mean -> KLT coefficients c (N, D)
          -> q = round(c / step) -> per-coefficient discretized Laplacian tables -> ANS (codec.ans)

File, little-endian throughout:

    b"KLT" | version u8 | width u16 | height u16 | block u8 | step f32 | basis digest 4 B
    | active u16 (coefficients 0..active-1 may be non-zero; the rest are all zero)
    | per active coefficient: max |q| as LEB128, then if it is > 0 a scale index u8
    | ANS stream (codec.ans.TableCoder) of q[:, i] for the coefficients with max |q| > 0

Coefficient i is coded under a Laplacian of scale s = 2^((index - 64) / 8) quantization
steps, discretized to the integers and truncated to [-max|q|, max|q|]. The encoder picks
the index that minimizes the ideal code length of the actual values (a maximum-likelihood
fit), so the decoder rebuilds the identical tables from the header alone.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from codec.ans import Table, TableCoder, quantize_pmf

from bench.klt_basis import KltBasis, from_blocks, to_blocks
from bench.record import Clock, section

MAGIC, VERSION = b"KLT", 1
_FIXED = struct.Struct("<3sBHHBf4sH")
SCALE_INDICES = np.arange(1, 256)
SEARCH_RADIUS = 24  # scale indices tried either side of the moment estimate (3 octaves)


class KltStreamError(ValueError):
    """The bytes are not a KLT file for this basis."""


@dataclass(frozen=True)
class KltHeader:
    width: int
    height: int
    block: int
    step: float
    digest: bytes
    max_abs: tuple[int, ...]     # per active coefficient
    scale_index: tuple[int, ...]  # per active coefficient, 0 where max_abs == 0


def laplace_scale(index: np.ndarray | int) -> np.ndarray:
    return 2.0 ** ((np.asarray(index, dtype=np.float64) - 64.0) / 8.0)


def _one_sided_mass(magnitudes: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """P(q = +m) of a unit-step-quantized Laplacian; rows scales, columns magnitudes m >= 0."""
    m = magnitudes[None, :].astype(np.float64)
    s = np.asarray(scale, dtype=np.float64)[:, None]
    upper = np.exp(-(m + 0.5) / s)
    lower = np.where(m == 0, 1.0, np.exp(-(np.maximum(m, 0.5) - 0.5) / s))
    return np.where(m == 0, 1.0 - upper, 0.5 * (lower - upper))


def fit_scale_index(values: np.ndarray, max_abs: int) -> int:
    """The scale index whose truncated discretized Laplacian codes ``values`` in the fewest bits."""
    hist = np.bincount(np.abs(values), minlength=max_abs + 1).astype(np.float64)
    guess = 64 + 8 * np.log2(max(np.abs(values).mean(), 1e-3))
    lo, hi = int(np.clip(guess - SEARCH_RADIUS, 1, 255)), int(np.clip(guess + SEARCH_RADIUS, 1, 255))
    candidates = np.arange(lo, hi + 1)
    mass = np.maximum(_one_sided_mass(np.arange(max_abs + 1), laplace_scale(candidates)), 1e-300)
    norm = mass[:, 0] + 2.0 * mass[:, 1:].sum(axis=1)
    bits = -(hist[None, :] * np.log2(mass / norm[:, None])).sum(axis=1)
    return int(candidates[np.argmin(bits)])


def table(max_abs: int, scale_index: int) -> Table:
    one_sided = _one_sided_mass(np.arange(max_abs + 1), laplace_scale([scale_index]))[0]
    return Table(counts=quantize_pmf(np.concatenate([one_sided[:0:-1], one_sided])), offset=-max_abs)


def _leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _coded(header: KltHeader) -> tuple[np.ndarray, TableCoder | None]:
    coded = np.flatnonzero(np.array(header.max_abs, dtype=np.int64))
    if coded.size == 0:
        return coded, None
    return coded, TableCoder([table(header.max_abs[i], header.scale_index[i]) for i in coded])


def quantize(image: np.ndarray, basis: KltBasis, step: float) -> np.ndarray:
    """(H, W, 3) uint8 -> q (N, D) int64 quantized KLT coefficients."""
    x = to_blocks(image, basis.block) - basis.mean.astype(np.float64)
    return np.rint((x @ basis.vectors.astype(np.float64)) / step).astype(np.int64)


def reconstruct(q: np.ndarray, basis: KltBasis, step: float, height: int, width: int) -> np.ndarray:
    """q (N, D) -> (height, width, 3) uint8: midpoint dequantization, inverse KLT, round, clip."""
    x = (q * step) @ basis.vectors.astype(np.float64).T + basis.mean.astype(np.float64)
    return np.clip(np.rint(from_blocks(x, basis.block, height, width)), 0, 255).astype(np.uint8)


def encode(image: np.ndarray, basis: KltBasis, step: float, clock: Clock | None = None) -> tuple[bytes, np.ndarray]:
    """-> (file bytes, the reconstruction the decoder will produce from them)."""
    height, width = image.shape[:2]
    step = float(np.float32(step))  # the decoder only sees the float32 in the header
    with section(clock, "transform"):
        q = quantize(image, basis, step)
    with section(clock, "entropy"):
        max_abs = np.abs(q).max(axis=0)
        active = int(np.flatnonzero(max_abs)[-1] + 1) if max_abs.any() else 0
        scale_index = [fit_scale_index(q[:, i], int(max_abs[i])) if max_abs[i] else 0 for i in range(active)]
        header = KltHeader(width, height, basis.block, step, basis.digest,
                           tuple(int(a) for a in max_abs[:active]), tuple(scale_index))
        coded, coder = _coded(header)
        payload = b"" if coder is None else coder.encode(
            q[:, coded].ravel(), np.tile(np.arange(coded.size), len(q)))
    with section(clock, "transform"):
        recon = reconstruct(q, basis, step, height, width)
    return pack_header(header) + payload, recon


def pack_header(h: KltHeader) -> bytes:
    parts = [_FIXED.pack(MAGIC, VERSION, h.width, h.height, h.block, h.step, h.digest, len(h.max_abs))]
    for a, s in zip(h.max_abs, h.scale_index):
        parts.append(_leb128(a) + (bytes([s]) if a else b""))
    return b"".join(parts)


def unpack_header(data: bytes) -> tuple[KltHeader, int]:
    """-> (header, offset of the ANS stream)."""
    if len(data) < _FIXED.size:
        raise KltStreamError("truncated KLT header")
    magic, version, width, height, block, step, digest, active = _FIXED.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise KltStreamError(f"not a KLT v{VERSION} file")
    pos, max_abs, scale_index = _FIXED.size, [], []
    try:
        for _ in range(active):
            value, shift = 0, 0
            while True:
                byte = data[pos]
                pos += 1
                value |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            max_abs.append(value)
            scale_index.append(data[pos] if value else 0)
            pos += 1 if value else 0
    except IndexError:
        raise KltStreamError("truncated KLT header") from None
    return KltHeader(width, height, block, step, digest, tuple(max_abs), tuple(scale_index)), pos


def decode(data: bytes, basis: KltBasis, clock: Clock | None = None) -> np.ndarray:
    """File bytes (and the shipped basis) -> (H, W, 3) uint8."""
    with section(clock, "entropy"):
        header, pos = unpack_header(data)
        if header.digest != basis.digest or header.block != basis.block:
            raise KltStreamError("file was written with another KLT basis")
        num_blocks = -(-header.height // header.block) * -(-header.width // header.block)
        q = np.zeros((num_blocks, basis.dims), dtype=np.int64)
        coded, coder = _coded(header)
        if coder is not None:
            ids = np.tile(np.arange(coded.size), num_blocks)
            q[:, coded] = coder.decode(data[pos:], ids).reshape(num_blocks, coded.size)
    with section(clock, "transform"):
        return reconstruct(q, basis, header.step, header.height, header.width)

"""ANS coding of integer symbols under fixed probability tables.

The only module that imports ``constriction``. Every symbol has a table id; the
symbols of one table are coded with one batched call, so a stream costs one call per
distinct table, never one per symbol (see shared CODING-NOTES: about 1 us a call).

Tables are built once, when a model is loaded for inference (no ``update()`` step).
They hold integer counts, so the probabilities constriction quantizes are exactly
reproducible, and :meth:`TableCoder.bits` gives the information content the coder
spends, which is what a model's rate estimate reports.

Every table ends in an *escape* symbol (count 1, about 20 bits): a value outside the
table's support is coded as the escape, and its distance beyond the support follows in
the same stream, Elias-gamma style under uniform tables (6 bits of side and length, then
the bits themselves). No value is ever clipped, so an image whose latents stray far from
the prior costs more bits instead of decoding to something else.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import constriction

Categorical = constriction.stream.model.Categorical
AnsCoder = constriction.stream.stack.AnsCoder

# The constriction release whose fixed-point arithmetic coder_weights mirrors (pinned in
# pyproject.toml; tests/test_golden.py fails clearly if another is installed).
CONSTRICTION_VERSION = "0.5.0"
COUNT_BITS = 20  # table resolution: every symbol of a table has mass >= 2^-20
CODER_PRECISION = 24  # constriction's Categorical represents probabilities in 24-bit fixed point
ESCAPE_COUNT = 1.0  # the escape symbol's count, appended to every table
MAX_MAGNITUDE = 2**30  # |value| a coder accepts; escapes code up to 32-bit distances
_LENGTH_BITS = 5  # an escape's header: 1 side bit + 5 bits of (bit length - 1)
_SIDE = 1 << _LENGTH_BITS  # header = side * _SIDE + (bit length - 1)


class StreamError(ValueError):
    """A stream could not be decoded (wrong length, or not produced by this coder)."""


def quantize_pmf(pmf: np.ndarray) -> np.ndarray:
    """Probabilities (any scale) -> integer counts summing to ~2^COUNT_BITS, each >= 1."""
    pmf = np.asarray(pmf, dtype=np.float64)
    if pmf.ndim != 1 or pmf.size == 0 or not np.all(np.isfinite(pmf)) or np.any(pmf < 0):
        raise ValueError("a pmf must be a non-empty 1-D array of finite non-negative numbers")
    total = pmf.sum()
    if total <= 0:
        raise ValueError("a pmf must have positive mass")
    return np.maximum(1.0, np.round(pmf / total * 2**COUNT_BITS))


def coder_weights(counts: np.ndarray) -> np.ndarray:
    """The fixed-point weights (summing to 2^24) constriction 0.5 derives from ``counts``
    with ``perfect=False``: ``left[i] = floor(cumsum_before_i * (2^24 - n) / sum) + i``.

    Mirroring it makes :meth:`TableCoder.bits` the exact information content the coder
    spends (tests check written bytes against it), not an approximation.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.size
    cumulative = np.concatenate([[0.0], np.cumsum(counts)])  # sequential, like Rust's fold
    scale = float(2**CODER_PRECISION - n) / cumulative[-1]
    left = np.floor(cumulative[:-1] * scale).astype(np.int64) + np.arange(n)
    return np.diff(np.append(left, 2**CODER_PRECISION))


@dataclass(frozen=True)
class Table:
    """A distribution over the integers ``offset .. offset + len(counts) - 1``."""

    counts: np.ndarray  # float64, integer-valued, >= 1
    offset: int


def _uniform(bits: int):
    """A uniform Categorical over 2^bits symbols (exactly ``bits`` bits each)."""
    return Categorical(np.ones(2**bits), perfect=False)


class TableCoder:
    """Codes int symbols, each under the table its ``table_ids`` entry names.

    Args:
        tables: the distributions; ``table_ids`` index into this sequence. Values outside
            a table's support are escaped (see the module docstring), at a cost
            :meth:`bits` counts exactly.
    """

    def __init__(self, tables: Sequence[Table]):
        if not tables:
            raise ValueError("a TableCoder needs at least one table")
        self.tables = tuple(tables)
        counts = [np.append(t.counts, ESCAPE_COUNT) for t in self.tables]
        self._models = [Categorical(c, perfect=False) for c in counts]
        self.offsets = np.array([t.offset for t in self.tables], dtype=np.int64)
        self.sizes = np.array([len(t.counts) for t in self.tables], dtype=np.int64)  # escape excluded
        # Flat -log2 p lookup for bits(): entry starts[i] + j is symbol offset_i + j of table i,
        # entry starts[i] + sizes[i] its escape.
        self._starts = np.concatenate([[0], np.cumsum(self.sizes + 1)[:-1]])
        self._neg_log2 = np.concatenate([CODER_PRECISION - np.log2(coder_weights(c)) for c in counts])
        self._header = _uniform(1 + _LENGTH_BITS)
        self._chunks = {b: _uniform(b) for b in range(1, 9)}

    def _split(self, values: np.ndarray, table_ids: np.ndarray):
        """-> symbol indices (escape = size) and, for escaped values in flat order,
        (side: 0 above / 1 below, u = distance beyond the support, >= 1)."""
        values = np.asarray(values, dtype=np.int64).ravel()
        if values.size != table_ids.size:
            raise ValueError("values and table_ids differ in size")
        if values.size and np.abs(values).max() > MAX_MAGNITUDE:
            raise ValueError(f"a symbol exceeds the coder's range (|value| <= {MAX_MAGNITUDE})")
        size = self.sizes[table_ids]
        idx = values - self.offsets[table_ids]
        below, above = idx < 0, idx >= size
        escaped = below | above
        u = np.where(below, -idx, idx - size + 1)[escaped]
        idx = np.where(escaped, size, idx)
        return idx, below[escaped].astype(np.int64), u

    def bits(self, values: np.ndarray, table_ids: np.ndarray) -> float:
        """Information content in bits of ``values`` under the tables (what the coder spends)."""
        table_ids = np.asarray(table_ids, dtype=np.int64).ravel()
        idx, _, u = self._split(values, table_ids)
        escape_bits = (1 + _LENGTH_BITS) * u.size + float((_bit_length(u) - 1).sum())
        return float(self._neg_log2[self._starts[table_ids] + idx].sum()) + escape_bits

    @staticmethod
    def _groups(table_ids: np.ndarray):
        order = np.argsort(table_ids, kind="stable")
        ids, counts = np.unique(table_ids[order], return_counts=True)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        return order, [(int(i), bounds[n], bounds[n + 1]) for n, i in enumerate(ids)]

    def encode(self, values: np.ndarray, table_ids: np.ndarray) -> bytes:
        """values, table_ids: same number of elements -> little-endian stream of 32-bit words."""
        return self.encode_parts([(values, table_ids)])

    def encode_parts(self, parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> bytes:
        """Several (values, table_ids) parts in one stream, decoded in order by
        :meth:`decoder`; a later part's table ids may depend on the earlier parts' values
        (a checkerboard context)."""
        coder = AnsCoder()
        for values, table_ids in reversed(parts):  # a stack: the first part is pushed last
            self._push(coder, values, np.asarray(table_ids, dtype=np.int64).ravel())
        return coder.get_compressed().astype("<u4").tobytes()

    def _push(self, coder, values: np.ndarray, table_ids: np.ndarray) -> None:
        idx, side, u = self._split(values, table_ids)
        order, groups = self._groups(table_ids)
        sorted_idx = idx[order].astype(np.int32)
        # A stack: push what the decoder pops last first. Decode order: the table groups,
        # then the escapes' headers, their full bytes, and their remaining 1..7 bits.
        if u.size:
            nbits = _bit_length(u) - 1  # bits below the leading one
            rest = nbits % 8
            for b in range(7, 0, -1):
                sel = rest == b
                if sel.any():
                    coder.encode_reverse((u[sel] & ((1 << b) - 1)).astype(np.int32), self._chunks[b])
            full = [(u[i] >> (rest[i] + 8 * j)) & 255
                    for i in np.flatnonzero(nbits >= 8) for j in reversed(range(nbits[i] // 8))]
            if full:
                coder.encode_reverse(np.array(full, dtype=np.int32), self._chunks[8])
            coder.encode_reverse((side * _SIDE + nbits).astype(np.int32), self._header)
        for table, start, stop in reversed(groups):
            coder.encode_reverse(sorted_idx[start:stop], self._models[table])

    def decode(self, data: bytes, table_ids: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`encode`: -> int64 values, flat, in the order of ``table_ids``."""
        return self.decoder(data).decode(table_ids)

    def decoder(self, data: bytes) -> "StreamDecoder":
        """A decoder for the parts of a stream from :meth:`encode_parts`, one at a time."""
        if len(data) % 4:
            raise StreamError("stream length is not a multiple of 4 bytes")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        try:
            return StreamDecoder(self, AnsCoder(words))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # constriction panics derive from BaseException
            raise StreamError(f"entropy decoder failed: {e}") from None

    def _pop(self, coder, table_ids: np.ndarray) -> np.ndarray:
        order, groups = self._groups(table_ids)
        idx = np.empty(table_ids.size, dtype=np.int64)
        for table, start, stop in groups:
            idx[order[start:stop]] = coder.decode(self._models[table], int(stop - start))
        size = self.sizes[table_ids]
        escaped = np.flatnonzero(idx == size)
        values = idx + self.offsets[table_ids]
        if escaped.size:
            header = coder.decode(self._header, int(escaped.size)).astype(np.int64)
            side, nbits = header // _SIDE, header % _SIDE
            rest = nbits % 8
            full = coder.decode(self._chunks[8], int((nbits // 8).sum())).astype(np.int64)
            u = np.ones(escaped.size, dtype=np.int64)
            pos = 0
            for i in np.flatnonzero(nbits >= 8):
                for _ in range(nbits[i] // 8):
                    u[i] = (u[i] << 8) | full[pos]
                    pos += 1
            for b in range(1, 8):
                sel = np.flatnonzero(rest == b)
                if sel.size:
                    low = coder.decode(self._chunks[b], int(sel.size)).astype(np.int64)
                    u[sel] = (u[sel] << b) | low
            lo = self.offsets[table_ids[escaped]]
            values[escaped] = np.where(side == 1, lo - u, lo + size[escaped] - 1 + u)
        return values


class StreamDecoder:
    """Decodes the parts of one stream in the order they were given to
    :meth:`TableCoder.encode_parts`."""

    def __init__(self, table_coder: TableCoder, coder) -> None:
        self._tables = table_coder
        self._coder = coder

    def decode(self, table_ids: np.ndarray) -> np.ndarray:
        """The next part: -> int64 values, flat, in the order of ``table_ids``."""
        table_ids = np.asarray(table_ids, dtype=np.int64).ravel()
        try:
            return self._tables._pop(self._coder, table_ids)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # constriction panics derive from BaseException
            raise StreamError(f"entropy decoder failed: {e}") from None


def _bit_length(u: np.ndarray) -> np.ndarray:
    """Bit length of positive int64 values below 2^53 (1 -> 1, 2..3 -> 2, ...)."""
    return np.frexp(u.astype(np.float64))[1].astype(np.int64)

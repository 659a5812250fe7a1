"""ANS coding of integer symbols under fixed probability tables.

The only module that imports ``constriction``. Every symbol has a table id; the
symbols of one table are coded with one batched call, so a stream costs one call per
distinct table, never one per symbol (see shared CODING-NOTES: about 1 us a call).

Tables are built once, when a model is loaded for inference (no ``update()`` step).
They hold integer counts, so the probabilities constriction quantizes are exactly
reproducible, and :meth:`TableCoder.bits` gives the information content the coder
spends, which is what a model's rate estimate reports.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import constriction

Categorical = constriction.stream.model.Categorical
AnsCoder = constriction.stream.stack.AnsCoder

COUNT_BITS = 20  # table resolution: every symbol of a table has mass >= 2^-20
CODER_PRECISION = 24  # constriction's Categorical represents probabilities in 24-bit fixed point


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


class TableCoder:
    """Codes int symbols, each under the table its ``table_ids`` entry names.

    Args:
        tables: the distributions; ``table_ids`` index into this sequence.
    """

    def __init__(self, tables: Sequence[Table]):
        if not tables:
            raise ValueError("a TableCoder needs at least one table")
        self.tables = tuple(tables)
        self._models = [Categorical(t.counts, perfect=False) for t in self.tables]
        self.offsets = np.array([t.offset for t in self.tables], dtype=np.int64)
        self.sizes = np.array([len(t.counts) for t in self.tables], dtype=np.int64)
        # Flat -log2 p lookup for bits(): entry starts[i] + j is symbol offset_i + j of table i.
        self._starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self._neg_log2 = np.concatenate(
            [CODER_PRECISION - np.log2(coder_weights(t.counts)) for t in self.tables])

    def clamp(self, values: np.ndarray, table_ids: np.ndarray) -> np.ndarray:
        """Clip each value into the support of its table."""
        lo = self.offsets[table_ids]
        return np.clip(values, lo, lo + self.sizes[table_ids] - 1)

    def _indices(self, values: np.ndarray, table_ids: np.ndarray) -> np.ndarray:
        idx = np.asarray(values, dtype=np.int64).ravel() - self.offsets[table_ids]
        if np.any(idx < 0) or np.any(idx >= self.sizes[table_ids]):
            raise ValueError("a symbol lies outside its table; clamp() it first")
        return idx

    def bits(self, values: np.ndarray, table_ids: np.ndarray) -> float:
        """Information content in bits of ``values`` under the tables (what the coder spends)."""
        table_ids = np.asarray(table_ids, dtype=np.int64).ravel()
        idx = self._indices(values, table_ids)
        return float(self._neg_log2[self._starts[table_ids] + idx].sum())

    @staticmethod
    def _groups(table_ids: np.ndarray):
        order = np.argsort(table_ids, kind="stable")
        ids, counts = np.unique(table_ids[order], return_counts=True)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        return order, [(int(i), bounds[n], bounds[n + 1]) for n, i in enumerate(ids)]

    def encode(self, values: np.ndarray, table_ids: np.ndarray) -> bytes:
        """values, table_ids: same number of elements -> little-endian stream of 32-bit words."""
        table_ids = np.asarray(table_ids, dtype=np.int64).ravel()
        idx = self._indices(values, table_ids)
        order, groups = self._groups(table_ids)
        sorted_idx = idx[order].astype(np.int32)
        coder = AnsCoder()
        # A stack: encode the groups backwards so the decoder pops them in order.
        for table, start, stop in reversed(groups):
            coder.encode_reverse(sorted_idx[start:stop], self._models[table])
        return coder.get_compressed().astype("<u4").tobytes()

    def decode(self, data: bytes, table_ids: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`encode`: -> int64 values, flat, in the order of ``table_ids``."""
        if len(data) % 4:
            raise StreamError("stream length is not a multiple of 4 bytes")
        table_ids = np.asarray(table_ids, dtype=np.int64).ravel()
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        order, groups = self._groups(table_ids)
        out = np.empty(table_ids.size, dtype=np.int64)
        try:
            coder = AnsCoder(words)
            for table, start, stop in groups:
                out[order[start:stop]] = coder.decode(self._models[table], int(stop - start))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # constriction panics derive from BaseException
            raise StreamError(f"entropy decoder failed: {e}") from None
        return out + self.offsets[table_ids]

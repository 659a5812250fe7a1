"""Sorted spectra: how few components carry a share of a total, and rank agreement.

Used for latent channels (rate, variance) and for KLT eigenvalues alike, so both are
summarised the same way.
"""
from __future__ import annotations

import numpy as np

SHARES = (0.5, 0.9, 0.99)


def cumulative_share(values: np.ndarray) -> np.ndarray:
    """Values sorted descending -> cumulative share of the total, (n,) in [0, 1]."""
    v = np.sort(np.maximum(np.asarray(values, dtype=np.float64), 0.0))[::-1]
    total = v.sum()
    return np.cumsum(v) / total if total > 0 else np.zeros_like(v)


def components_for(values: np.ndarray, share: float) -> int:
    """The fewest components (largest first) whose sum reaches ``share`` of the total."""
    c = cumulative_share(values)
    if c.size == 0 or c[-1] == 0:
        return 0
    return int(np.searchsorted(c, share - 1e-12) + 1)


def concentration(values: np.ndarray, shares=SHARES) -> dict[str, int]:
    """{"50%": n50, "90%": n90, ...}: components needed for each share."""
    return {f"{round(100 * s):d}%": components_for(values, s) for s in shares}


def _ranks(v: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1, ties get the mean of their ranks."""
    v = np.asarray(v, dtype=np.float64)
    order = np.argsort(v, kind="stable")
    ranks_sorted = np.arange(v.size, dtype=np.float64)
    bounds = np.r_[0, np.flatnonzero(np.diff(v[order])) + 1, v.size]
    for a, b in zip(bounds[:-1], bounds[1:]):
        ranks_sorted[a:b] = 0.5 * (a + b - 1)
    ranks = np.empty(v.size)
    ranks[order] = ranks_sorted
    return ranks


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return pearson(_ranks(a), _ranks(b))

"""The KLT (PCA) eigenvalue spectrum of b x b x 3 blocks and its reverse water-filling rates.

Eigenvalues come from :func:`bench.klt_basis.block_moments` (the KLT codec's own fit), in
8-bit units squared, sorted descending, D = 3 b^2 of them. For Gaussian blocks, coding
coefficient i at rate ``R_i = max(0, log2(lambda_i / theta) / 2)`` bits per block is
optimal (Cover & Thomas, Thm 10.3.3): the "rate spectrum" a linear transform coder would
have, which :mod:`bench.analysis.spectrum` sets next to the codec's per-channel rates.
"""
from __future__ import annotations

import math

import numpy as np

from bench.klt_basis import block_moments


def klt_eigenvalues(images: list[np.ndarray], block: int = 8) -> np.ndarray:
    """images: (H, W, 3) uint8 -> (3 b^2,) float64 eigenvalues of the block covariance, descending."""
    _, cov, _ = block_moments(images, block)
    return np.maximum(np.linalg.eigvalsh(cov)[::-1], 0.0)


def waterfill(eigenvalues: np.ndarray, bits_per_block: float) -> tuple[float, np.ndarray]:
    """Reverse water-filling at a total rate.

    Args:
        eigenvalues: (D,) coefficient variances (> 0 where used).
        bits_per_block: total rate to spend, bits per block (>= 0).
    Returns:
        theta (the water level, same units as the eigenvalues) and rates (D,) bits per
        block per coefficient, summing to ``bits_per_block``.
    """
    lam = np.maximum(np.asarray(eigenvalues, dtype=np.float64), 1e-300)
    if bits_per_block <= 0:
        return float(lam.max()), np.zeros_like(lam)

    def total(log_theta: float) -> float:
        return float(np.maximum(0.0, 0.5 * (np.log(lam) - log_theta) / math.log(2)).sum())

    lo, hi = math.log(lam.min()) - 2 * math.log(2) * bits_per_block, math.log(lam.max())
    for _ in range(200):  # total() is decreasing in theta
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if total(mid) > bits_per_block else (lo, mid)
    theta = math.exp(0.5 * (lo + hi))
    return theta, np.maximum(0.0, 0.5 * np.log2(lam / theta))

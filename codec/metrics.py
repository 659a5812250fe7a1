"""PSNR, the one definition training, validation and the benchmarks share (no torch import:
``psnr_db`` works on the tensors it is given)."""
from __future__ import annotations

import math

import numpy as np


def psnr_db(x_hat: "torch.Tensor", x: "torch.Tensor", peak: float = 1.0) -> "torch.Tensor":  # noqa: F821
    """(N, C, H, W) batches in [0, peak] -> (N,) PSNR in dB (x_hat clamped to the range first;
    the MSE floored at 1e-10 so identical images stay finite)."""
    mse = (x_hat.clamp(0, peak) - x).square().mean(dim=(1, 2, 3))
    return 10 * (peak**2 / mse.clamp_min(1e-10)).log10()


def psnr_rgb_db(original: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB of two 8-bit images over all pixels and channels, peak 255 (inf if identical)."""
    if original.shape != decoded.shape:
        raise ValueError(f"shape mismatch: {original.shape} vs {decoded.shape}")
    mse = np.mean((original.astype(np.float64) - decoded.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)

"""Distortion and rate of one decoded image: PSNR-RGB, MS-SSIM, bits per pixel.

All take 8-bit images ``(H, W, 3) uint8`` (the original and the decoded output), so every
codec is scored on what a viewer would see, after rounding and clipping to 8 bits.
"""
from __future__ import annotations

import math

import numpy as np

MS_SSIM_MIN_SIDE = 161  # pytorch_msssim: 4 downsamplings of an 11-tap window need > 160 px


def bits_per_pixel(num_bytes: int, width: int, height: int) -> float:
    """Rate from the bytes really written: 8 * bytes / pixels."""
    return 8.0 * num_bytes / (width * height)


def psnr_rgb_db(original: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB over all pixels and the three channels, peak 255 (inf if identical)."""
    if original.shape != decoded.shape:
        raise ValueError(f"shape mismatch: {original.shape} vs {decoded.shape}")
    mse = np.mean((original.astype(np.float64) - decoded.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ms_ssim(original: np.ndarray, decoded: np.ndarray) -> float:
    """MS-SSIM (pytorch_msssim, data range 255) of the full RGB image; NaN below 161 px a side."""
    if min(original.shape[:2]) < MS_SSIM_MIN_SIDE:
        return math.nan
    import torch  # lazy: the rest of the bench does not need torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float()

    with torch.no_grad():
        return float(_ms_ssim(tensor(original), tensor(decoded), data_range=255.0))

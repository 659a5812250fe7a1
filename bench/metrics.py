"""Distortion and rate of one decoded image: PSNR-RGB, MS-SSIM, bits per pixel.

All take 8-bit images ``(H, W, 3) uint8`` (the original and the decoded output), so every
codec is scored on what a viewer would see, after rounding and clipping to 8 bits.
"""
from __future__ import annotations

import math

import numpy as np

from codec.metrics import psnr_rgb_db  # noqa: F401 - one definition, re-exported for bench

MS_SSIM_MIN_SIDE = 161  # pytorch_msssim: 4 downsamplings of an 11-tap window need > 160 px


def bits_per_pixel(num_bytes: int, width: int, height: int) -> float:
    """Rate from the bytes really written: 8 * bytes / pixels."""
    return 8.0 * num_bytes / (width * height)


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

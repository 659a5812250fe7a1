"""What the analyses look at: the images of a folder, whole or as crops.

Images come in as (H, W, 3) uint8 (:func:`bench.images.load_rgb`) and leave as float32
tensors (N, 3, H, W) in [0, 1], the model's input.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.images import list_images, load_rgb
from codec.images import batch_tensor


def load_folder(folder: Path | str, limit: int | None = None) -> list[np.ndarray]:
    """The first ``limit`` images of ``folder`` (sorted by name) as (H, W, 3) uint8."""
    return [load_rgb(f.path) for f in list_images(Path(folder), limit)]


def to_batch(images: list[np.ndarray]) -> torch.Tensor:
    """Same-size (H, W, 3) uint8 -> (N, 3, H, W) float32 in [0, 1]."""
    return batch_tensor(np.stack(images))


def crop_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """The top-left (H - H % m, W - W % m) part: no padding, so no invented pixels."""
    h, w = image.shape[:2]
    return image[: h - h % multiple, : w - w % multiple]


def random_crops(images: list[np.ndarray], size: int, count: int, seed: int = 0) -> torch.Tensor:
    """``count`` random ``size x size`` crops, images drawn round-robin -> (count, 3, size, size).

    Deterministic for a given seed, so two models (or checkpoints) see the same pixels.
    """
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(count):
        img = images[i % len(images)]
        if min(img.shape[:2]) < size:
            raise ValueError(f"image {img.shape[:2]} is smaller than the crop size {size}")
        y = int(rng.integers(img.shape[0] - size + 1))
        x = int(rng.integers(img.shape[1] - size + 1))
        crops.append(img[y : y + size, x : x + size])
    return to_batch(crops)


def center_crops(images: list[np.ndarray], size: int) -> torch.Tensor:
    """The central ``size x size`` crop of each image -> (N, 3, size, size)."""
    crops = []
    for img in images:
        y, x = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
        crops.append(img[y : y + size, x : x + size])
    return to_batch(crops)

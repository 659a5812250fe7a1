"""Training images: decoded once into memory, sampled as random flipped crops.

A fixed, name-based share of each folder is held out for validation, so the split is
the same on every run and every machine (never train on Kodak or the holdout set).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..images import IMAGE_SUFFIXES, batch_tensor



def list_images(folders: list[str | Path]) -> list[Path]:
    paths: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"not a folder: {folder}")
        paths += sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images in {', '.join(map(str, folders))}")
    return paths


def is_validation(path: Path, fraction: float) -> bool:
    """Stable split by the hash of the file name."""
    digest = hashlib.sha256(path.name.encode()).digest()
    return int.from_bytes(digest[:4], "little") / 2**32 < fraction


def load_rgb(path: Path, min_side: int) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if min(im.size) < min_side:  # upscale tiny images so any crop fits
            s = min_side / min(im.size)
            im = im.resize((max(min_side, round(im.width * s)), max(min_side, round(im.height * s))), Image.BICUBIC)
        return np.asarray(im, dtype=np.uint8)


class CropSampler:
    """Random ``crop x crop`` patches with random horizontal/vertical flips.

    Images are kept as uint8 arrays (H, W, 3); a batch is assembled in the main process,
    which costs about a millisecond and keeps the model busy without workers.
    """

    def __init__(self, images: list[np.ndarray], crop: int, seed: int):
        self.images = images
        self.crop = crop
        self.rng = np.random.default_rng(seed)

    def batch(self, batch_size: int) -> torch.Tensor:
        """-> (batch_size, 3, crop, crop) float32 in [0, 1]."""
        c = self.crop
        out = np.empty((batch_size, c, c, 3), dtype=np.uint8)
        for i in range(batch_size):
            img = self.images[self.rng.integers(len(self.images))]
            y = self.rng.integers(img.shape[0] - c + 1)
            x = self.rng.integers(img.shape[1] - c + 1)
            patch = img[y : y + c, x : x + c]
            if self.rng.random() < 0.5:
                patch = patch[:, ::-1]
            if self.rng.random() < 0.5:
                patch = patch[::-1]
            out[i] = patch
        return batch_tensor(out)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


def center_crops(images: list[np.ndarray], size: int) -> torch.Tensor:
    """Deterministic validation batch: the central ``size x size`` patch of each image."""
    crops = []
    for img in images:
        y = (img.shape[0] - size) // 2
        x = (img.shape[1] - size) // 2
        crops.append(img[y : y + size, x : x + size])
    return batch_tensor(np.stack(crops))


def whole_images(images: list[np.ndarray], multiple: int, max_pixels: int = 768 * 512) -> list[torch.Tensor]:
    """Validation images at full size, each (1, 3, h, w) float32 in [0, 1]: centrally cut to
    multiples of ``multiple`` (and to at most ``max_pixels``, keeping the aspect), so the
    upper layers' priors are checked on image interiors that small crops never show."""
    out = []
    for img in images:
        h, w = img.shape[:2]
        scale = min(1.0, (max_pixels / (h * w)) ** 0.5)
        ch = max(multiple, int(h * scale) // multiple * multiple)
        cw = max(multiple, int(w * scale) // multiple * multiple)
        if ch > h or cw > w:  # smaller than one top-layer position: skip
            continue
        y, x = (h - ch) // 2, (w - cw) // 2
        out.append(batch_tensor(img[y : y + ch, x : x + cw]))
    return out

"""The images of a dataset folder: listing, loading as 8-bit RGB, content hashes for caching."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from codec.images import IMAGE_SUFFIXES



@dataclass(frozen=True)
class ImageFile:
    """One dataset image: path, name (file name) and sha256 of the file's bytes."""

    path: Path
    name: str
    sha256: str


def list_images(folder: Path, limit: int | None = None) -> list[ImageFile]:
    """Image files directly in ``folder``, sorted by name, first ``limit`` if given."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such dataset folder: {folder}")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if limit is not None:
        paths = paths[:limit]
    return [ImageFile(p, p.name, file_sha256(p)) for p in paths]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_rgb(path: Path) -> np.ndarray:
    """-> (H, W, 3) uint8."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()

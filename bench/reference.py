"""Curves the bench does not measure: published learned codecs, and Gaussian-model R(D).

- :func:`published_curves`: CompressAI's published Kodak numbers for two learned
  hyperprior codecs, shipped in ``reference_kodak.json`` (source and commit in each
  ``description``); drawn dashed, marked "published, not measured here". Only meaningful
  on Kodak, so the rd command adds them only for a dataset folder named like "kodak".
- :func:`gaussian_rd_curves`: reverse water-filling R(D) of Gaussian b x b x 3 blocks, from
  the covariance eigenvalues of (a) the benchmarked images themselves and (b) the training
  images the KLT basis was fitted on. Natural images are heavy-tailed: not a bound.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

from bench.images import ImageFile, load_rgb
from bench.klt_basis import KltBasis, block_moments, gaussian_rd
from bench.summary import Curve, curve_from_json

REFERENCE_KODAK = Path(__file__).resolve().parent / "reference_kodak.json"
GAUSSIAN_LABEL = "Gaussian-model R(D) (not a bound for heavy-tailed data)"


def published_curves(path: Path = REFERENCE_KODAK) -> list[Curve]:
    return [curve_from_json(obj) for obj in json.loads(Path(path).read_text())]


GAUSSIAN_NAMES = ("gaussian-rd", "gaussian-rd-train")


def gaussian_key(images: Sequence[ImageFile], basis_path: Path) -> str:
    """What the Gaussian curves are a function of: the images' bytes and the basis file's."""
    h = hashlib.sha256(Path(basis_path).read_bytes())
    for sha in sorted(f.sha256 for f in images):
        h.update(sha.encode())
    return h.hexdigest()


def cached_gaussian_curves(out: Path, key: str) -> list[Curve] | None:
    """The Gaussian curves already in ``out`` if they were computed for ``key``: recomputing them
    gives the same curves up to the last digits of the eigen-solver, which would only rewrite
    committed files with noise."""
    curves = []
    for name in GAUSSIAN_NAMES:
        try:
            curve = curve_from_json(json.loads((Path(out) / f"{name}.json").read_text()))
        except (OSError, KeyError, ValueError):
            return None
        if (curve.settings or {}).get("key") != key:
            return None
        curves.append(curve)
    return curves


def gaussian_rd_curves(images: Sequence[ImageFile], basis: KltBasis, key: str | None = None) -> list[Curve]:
    """``key``: :func:`gaussian_key` of the inputs, kept in the curves' settings."""
    import numpy as np

    b = basis.block
    _, cov, count = block_moments((load_rgb(f.path) for f in images), b)
    dataset = gaussian_rd(np.linalg.eigvalsh(cov), b)
    train = gaussian_rd(basis.eigenvalues, b)
    settings = {"block": b, "mse": "per pixel and channel, 8-bit units", "rate": "bits per block / (b*b)"}
    if key is not None:
        settings["key"] = key
    return [
        Curve("gaussian-rd", f"{GAUSSIAN_LABEL}: reverse water-filling over the eigenvalues of the "
              f"{b}x{b}x3 block covariance of the {len(images)} benchmarked images ({count} blocks)",
              "model", tuple(dataset.bpp), tuple(dataset.psnr_db), settings={**settings, "eigenvalues": "dataset"}),
        Curve("gaussian-rd-train", f"{GAUSSIAN_LABEL}: reverse water-filling over the KLT eigenvalues "
              f"fitted on the training images ({basis.source})",
              "model", tuple(train.bpp), tuple(train.psnr_db), settings={**settings, "eigenvalues": "train"}),
    ]

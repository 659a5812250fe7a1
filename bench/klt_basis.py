"""The KLT (PCA) basis of b x b x 3 image blocks, its fit, and its Gaussian R(D) curve.

A block is the (b, b, 3) pixels of one b x b tile, flattened channel-last to D = 3 b^2
values in 8-bit units. The basis is fitted once on training images (never the test sets),
by ``python -m bench fit-klt``, and shipped as ``bench/klt_basis_b{b}.npz``:

    mean         (D,) float32   mean block
    vectors      (D, D) float32 orthonormal columns, by decreasing eigenvalue, each signed so
                                its largest-magnitude entry is positive (a reproducible choice)
    eigenvalues  (D,) float64   variances of the coefficients on the training blocks
    source       str            how it was made (folder, image and block counts)

For Gaussian blocks the KLT followed by independent coding of the coefficients is optimal,
and reverse water-filling over the eigenvalues gives the rate-distortion function R(D)
(Cover & Thomas, Thm 10.3.3). Natural images are heavy-tailed, so that curve is a model,
not a bound.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent


def default_basis_path(block: int = 8) -> Path:
    return BENCH_DIR / f"klt_basis_b{block}.npz"


@dataclass(frozen=True)
class KltBasis:
    block: int
    mean: np.ndarray         # (D,) float32
    vectors: np.ndarray      # (D, D) float32, columns
    eigenvalues: np.ndarray  # (D,) float64
    source: str = ""

    @property
    def dims(self) -> int:
        return self.mean.size

    @property
    def digest(self) -> bytes:
        """4 bytes identifying mean and vectors: written in every KLT file, checked on decode."""
        return hashlib.sha256(self.mean.tobytes() + self.vectors.tobytes()).digest()[:4]


def to_blocks(image: np.ndarray, block: int) -> np.ndarray:
    """(H, W, 3) -> (N, 3 b^2) float64 blocks, raster order, after edge-replicate padding."""
    h, w, c = image.shape
    ph, pw = -h % block, -w % block
    x = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge").astype(np.float64)
    nh, nw = (h + ph) // block, (w + pw) // block
    return x.reshape(nh, block, nw, block, c).transpose(0, 2, 1, 3, 4).reshape(nh * nw, -1)


def from_blocks(blocks: np.ndarray, block: int, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`to_blocks`, cropped back to (height, width, 3)."""
    nh, nw = -(-height // block), -(-width // block)
    x = blocks.reshape(nh, nw, block, block, 3).transpose(0, 2, 1, 3, 4)
    return x.reshape(nh * block, nw * block, 3)[:height, :width]


def block_moments(images: Iterable[np.ndarray], block: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean (D,) and covariance (D, D) of all aligned blocks of the images, and their count."""
    total, outer, count = None, None, 0
    for image in images:
        x = to_blocks(image, block)
        if total is None:
            total, outer = np.zeros(x.shape[1]), np.zeros((x.shape[1],) * 2)
        total += x.sum(axis=0)
        outer += x.T @ x
        count += len(x)
    if count == 0:
        raise ValueError("no images")
    mean = total / count
    return mean, outer / count - np.outer(mean, mean), count


def basis_from_moments(mean: np.ndarray, cov: np.ndarray, block: int, source: str) -> KltBasis:
    eigenvalues, vectors = np.linalg.eigh(cov)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, vectors = np.maximum(eigenvalues[order], 0.0), vectors[:, order]
    rows = np.argmax(np.abs(vectors), axis=0)
    vectors = vectors * np.sign(vectors[rows, np.arange(vectors.shape[1])])
    return KltBasis(block, mean.astype(np.float32), vectors.astype(np.float32), eigenvalues, source)


def save_basis(basis: KltBasis, path: Path) -> None:
    np.savez_compressed(path, block=basis.block, mean=basis.mean, vectors=basis.vectors,
                        eigenvalues=basis.eigenvalues, source=np.array(basis.source))


def load_basis(path: Path) -> KltBasis:
    with np.load(path) as f:
        return KltBasis(int(f["block"]), f["mean"].astype(np.float32), f["vectors"].astype(np.float32),
                        f["eigenvalues"].astype(np.float64), str(f["source"]))


@dataclass(frozen=True)
class GaussianRD:
    """Points of R(D) for Gaussian blocks with the given covariance eigenvalues."""

    bpp: np.ndarray      # bits per pixel = bits per block / b^2
    psnr_db: np.ndarray  # from the per-sample MSE in 8-bit units


def gaussian_rd(eigenvalues: np.ndarray, block: int, max_bpp: float = 3.0, num_points: int = 40) -> GaussianRD:
    """Reverse water-filling: D_i = min(theta, lambda_i), R_i = max(0, log2(lambda_i / theta) / 2)."""
    lam = np.maximum(np.asarray(eigenvalues, dtype=np.float64), 1e-12)
    pixels = block * block

    def point(log_theta: float) -> tuple[float, float]:
        theta = math.exp(log_theta)
        mse = np.minimum(theta, lam).mean()
        return np.maximum(0.0, 0.5 * np.log2(lam / theta)).sum() / pixels, 10 * math.log10(255.0**2 / mse)

    # At this theta even the smallest eigenvalue alone spends more than max_bpp.
    lo, hi = math.log(lam.min()) - 2 * math.log(2) * max_bpp * pixels - 1, math.log(lam.max())
    for _ in range(100):  # bisect for the theta that reaches max_bpp
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if point(mid)[0] < max_bpp else (mid, hi)
    points = [point(t) for t in np.linspace(math.log(lam.max()) - 0.7, hi, num_points)]
    bpp, psnr = (np.array(v) for v in zip(*points))
    keep = bpp > 0
    return GaussianRD(bpp[keep], psnr[keep])


def fit_folder(folder: Path, block: int = 8) -> KltBasis:
    """Fit on every image of ``folder`` (all aligned blocks; edge-padded borders included)."""
    from bench.images import list_images, load_rgb

    files = list_images(folder)
    mean, cov, count = block_moments((load_rgb(f.path) for f in files), block)
    source = (f"fitted by `python -m bench fit-klt` on all {count} aligned {block}x{block}x3 blocks "
              f"of the {len(files)} images in {Path(folder).name}/ (mean and covariance in 8-bit units)")
    return basis_from_moments(mean, cov, block, source)

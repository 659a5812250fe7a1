"""The ``spectrum`` analysis over a dataset: measure, summarise, compare with the KLT.

::

    images ─spectrum.measure─> ChannelStats per channel, ImageBits per image   (per quality)
    images ─klt_spectrum─────> eigenvalues of 8x8x3 blocks, water-filled at the codec's bpp
                          └──> SpectrumResult (JSON) ─figures─> PNG
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.klt_basis import default_basis_path, load_basis
from codec.latent_codec import LatentCoder

from .klt import klt_eigenvalues, waterfill
from ..models import NamedModel, beta_of
from .stats import concentration, pearson, spearman
from .measure import ChannelStats, ImageBits, measure


@dataclass(frozen=True)
class SpectrumSummary:
    """Headline numbers of one quality (counts are of components, largest first).

    Attributes:
        bpp: table bits per pixel, mean over images.
        rate_channels: channels (of ``num_channels``) carrying 50/90/99% of the bits.
        energy_channels: the same for var(ŷ)/Δ^2, the isometric "eigenvalues".
        klt_energy_coefficients: KLT coefficients (of ``klt_dims``) for 50/90/99% of the variance.
        klt_rate_coefficients: the same for the water-filling rates at the codec's bpp.
        klt_active_coefficients: coefficients with a positive water-filling rate at that bpp.
        active_channels: channels with more than 0.1% of the bits.
        spearman_bits_vs_var_symbols: across channels, rank correlation of rate and var(ŷ)/Δ^2.
        pearson_bits_vs_isometric / spearman_...: across images, bits spent vs isometric_bits.
        mean_isometric_minus_bits: mean over images of isometric_bits - bits (bits per image).
    """

    bpp: float
    num_channels: int
    active_channels: int
    rate_channels: dict[str, int]
    energy_channels: dict[str, int]
    klt_dims: int
    klt_energy_coefficients: dict[str, int]
    klt_rate_coefficients: dict[str, int]
    klt_active_coefficients: int
    spearman_bits_vs_var_symbols: float
    spearman_bits_vs_prior_scale_over_step: float
    pearson_bits_vs_isometric: float
    spearman_bits_vs_isometric: float
    mean_isometric_minus_bits: float


@dataclass(frozen=True)
class QualitySpectrum:
    quality: float
    beta: float
    summary: SpectrumSummary
    channels: tuple[ChannelStats, ...]
    images: tuple[ImageBits, ...]
    klt_waterfill_bits_per_block: tuple[float, ...]


@dataclass(frozen=True)
class SpectrumResult:
    """Everything ``spectrum`` measured; eigenvalues in 8-bit units squared."""

    model: str
    dataset: str
    image_names: tuple[str, ...]
    klt_block: int
    klt_eigenvalues: tuple[float, ...]
    klt_train_eigenvalues: tuple[float, ...]
    qualities: tuple[QualitySpectrum, ...]


def summarize(channels: list[ChannelStats], images: list[ImageBits], klt_eigs: np.ndarray,
              block: int) -> tuple[SpectrumSummary, np.ndarray]:
    """-> summary and the KLT water-filling rates (bits per block) at the codec's bpp."""
    bits = np.array([c.bits_per_image for c in channels])
    var_sym = np.array([c.var_symbols for c in channels])
    scale_ratio = np.array([c.mean_prior_scale / c.step for c in channels])
    spent = np.array([i.bits for i in images])
    iso = np.array([i.isometric_bits for i in images])
    bpp = float(np.mean([i.bits / i.num_pixels for i in images]))
    _, klt_rates = waterfill(klt_eigs, bpp * block * block)
    summary = SpectrumSummary(
        bpp=bpp, num_channels=len(channels), active_channels=int((bits > 1e-3 * bits.sum()).sum()),
        rate_channels=concentration(bits), energy_channels=concentration(var_sym),
        klt_dims=int(klt_eigs.size), klt_energy_coefficients=concentration(klt_eigs),
        klt_rate_coefficients=concentration(klt_rates), klt_active_coefficients=int((klt_rates > 0).sum()),
        spearman_bits_vs_var_symbols=spearman(bits, var_sym),
        spearman_bits_vs_prior_scale_over_step=spearman(bits, scale_ratio),
        pearson_bits_vs_isometric=pearson(spent, iso), spearman_bits_vs_isometric=spearman(spent, iso),
        mean_isometric_minus_bits=float(np.mean(iso - spent)))
    return summary, klt_rates


def run_spectrum(named: NamedModel, images: list[tuple[str, np.ndarray]], qualities: list[float],
                 dataset: str, block: int = 8, progress=None) -> SpectrumResult:
    """images: (name, (H, W, 3) uint8), H and W multiples of the model's top stride."""
    model = named.model
    coder = LatentCoder(model)
    klt_eigs = klt_eigenvalues([im for _, im in images], block)
    train_path = default_basis_path(block)
    train_eigs = load_basis(train_path).eigenvalues if Path(train_path).exists() else np.zeros(0)
    per_quality = []
    for q in qualities:
        channels, per_image = measure(model, images, q, coder)
        summary, klt_rates = summarize(channels, per_image, klt_eigs, block)
        per_quality.append(QualitySpectrum(q, beta_of(model, q), summary, tuple(channels),
                                           tuple(per_image), tuple(map(float, klt_rates))))
        if progress:
            progress(f"q={q:g}: {summary.bpp:.3f} bpp, 90% of bits in {summary.rate_channels['90%']}"
                     f"/{summary.num_channels} channels")
    return SpectrumResult(named.name, dataset, tuple(n for n, _ in images), block,
                          tuple(map(float, klt_eigs)), tuple(map(float, train_eigs)), tuple(per_quality))

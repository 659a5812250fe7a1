"""Latents ranked like PCA eigenvalues (Nakagawa, Kato & Suzuki, ICML 2021).

The paper shows that a beta-VAE with MSE distortion is, locally, an isometric embedding
scaled by the posterior: the decoder Jacobian's columns are orthogonal with norms
``||J_j|| = sqrt(beta / 2) / sigma_j`` (Gaussian posterior), so the latents in units of
their posterior scale behave like PCA coefficients, their variances like eigenvalues,
and the data density follows from the prior::

    p(x) ≈ p(z) / prod_j ||J_j||   =>   -log p(x) ≈ -log p(z) - sum_j log sigma_j + (m/2) log(beta/2)

For this codec the posterior is uniform with width the quantization step Δ_j (std Δ/√12)
and the rate is in bits, so the same argument gives ``||J_j|| Δ_j = sqrt(6 beta)``
(checked by the ``ima`` analysis) and::

    -log2 p(x) ≈ isometric_bits + (m/2) log2(6 beta),
    isometric_bits = sum_j [-log2 p(y_j) - log2 Δ_j]     (y: posterior mean, p: prior density)

``isometric_bits`` is the continuous counterpart of the bits the coder spends,
``sum_j -log2 P(ŷ_j)``, with P the mass of a bin of width Δ. This module measures, per
layer and channel, the table bits, the variance of ŷ and the prior scale, and per image
the bits spent against ``isometric_bits`` (units: bits; latent units for y, Δ, sigma).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from codec.entropy_models import SCALE_MIN
from codec.entropy_params import TOP_RADIUS
from codec.images import batch_tensor
from codec.latent_codec import LatentCoder
from codec.model import HierarchicalVAE

from ..latents import LayerTrace, trace
from ..models import beta_of

LOG2E = 1.0 / math.log(2.0)


@dataclass(frozen=True)
class ChannelStats:
    """One latent channel over a dataset at one quality.

    Attributes:
        layer, channel: position in the model (layer 0 = top).
        bits_per_image: table bits the coder spends on it, mean over images.
        var_y_hat: variance of the quantized latent over images and positions (latent units^2).
        mean_prior_scale: mean prior std (latent units); the top layer's is the std of its
            factorized pmf.
        step: quantization step Δ (latent units; 1 for the top layer).
    """

    layer: int
    channel: int
    bits_per_image: float
    var_y_hat: float
    mean_prior_scale: float
    step: float

    @property
    def var_symbols(self) -> float:
        """var(ŷ) / Δ^2: the variance in the isometric (posterior-scaled) coordinates."""
        return self.var_y_hat / self.step**2


@dataclass(frozen=True)
class ImageBits:
    """Bits of one image: spent by the coder vs the isometric-embedding estimate.

    Attributes:
        bits: table bits of all layers (what the ANS coder spends, container excluded).
        isometric_bits: sum of -log2 p(y) - log2 Δ over all latents (see module doc).
        neg_log2_px_bits: isometric_bits + (m/2) log2(6 beta): the paper's -log2 p(x) on
            the m-dimensional image manifold (pixels in [0, 1]).
        layer_bits, layer_isometric_bits: the same per layer, top first.
    """

    image: str
    num_pixels: int
    num_latents: int
    bits: float
    isometric_bits: float
    neg_log2_px_bits: float
    layer_bits: tuple[float, ...]
    layer_isometric_bits: tuple[float, ...]


def top_isometric_bits(model: HierarchicalVAE, y: torch.Tensor) -> torch.Tensor:
    """-log2 of the top layer's learned density at y (N, C, h, w) -> same shape.

    The density is the derivative of the learned CDF sigmoid(l(v)):
    log pdf = log sigmoid(l) + log sigmoid(-l) + log l'(v); l' > 0 by construction.
    """
    N, C, h, w = y.shape
    with torch.enable_grad():
        v = y.detach().double().permute(1, 0, 2, 3).reshape(C, 1, -1).requires_grad_(True)
        logits = model.top_density.logits_cdf(v)
        (slope,) = torch.autograd.grad(logits.sum(), v)
    log_pdf = F.logsigmoid(logits) + F.logsigmoid(-logits) + slope.clamp_min(1e-300).log()
    return (-LOG2E * log_pdf.detach()).reshape(C, N, h, w).permute(1, 0, 2, 3)


def gaussian_isometric_bits(layer: LayerTrace) -> torch.Tensor:
    """-log2 N(y; mu, sigma) - log2 Δ = -log2 N(v; 0, s), v = (y - mu)/Δ, s = sigma/Δ
    (s floored like the entropy model). -> (N, C, h, w) bits."""
    step = layer.step.double()
    s = (layer.sigma.double() / step).clamp_min(SCALE_MIN)
    v = (layer.y.double() - layer.mu.double()) / step
    return 0.5 * math.log2(2 * math.pi) + torch.log2(s) + LOG2E * v.square() / (2 * s.square())


def top_prior_scales(model: HierarchicalVAE) -> np.ndarray:
    """Std of each top channel's pmf (latent units), (C0,)."""
    pmf = model.top_density.pmf_table(TOP_RADIUS).numpy()
    v = np.arange(-TOP_RADIUS, TOP_RADIUS + 1, dtype=np.float64)
    mean = pmf @ v
    return np.sqrt(np.maximum(pmf @ v**2 - mean**2, 0.0))


class _Accumulator:
    """Running per-channel sums over images for one layer."""

    def __init__(self, channels: int):
        self.bits = np.zeros(channels)
        self.sum = np.zeros(channels)
        self.sum_sq = np.zeros(channels)
        self.scale_sum = np.zeros(channels)
        self.count = 0
        self.images = 0
        self.step = np.ones(channels)


def measure(model: HierarchicalVAE, images: list[tuple[str, np.ndarray]], quality: float,
            coder: LatentCoder | None = None) -> tuple[list[ChannelStats], list[ImageBits]]:
    """Per-channel and per-image statistics at one quality.

    Args:
        images: (name, (H, W, 3) uint8) with H, W multiples of the top stride.
        coder: a LatentCoder of ``model`` (built here if None; building it once saves time).
    """
    coder = coder or LatentCoder(model)
    Ms = model.config.latent_channels
    acc = [_Accumulator(c) for c in Ms]
    top_scales = top_prior_scales(model)
    six_beta = 6.0 * beta_of(model, quality)
    per_image = []
    for name, image in images:
        x = batch_tensor(image)
        layers, _ = trace(model, x, quality)
        symbols = coder.encode(x, quality)
        layer_bits, layer_iso, num_latents = [], [], 0
        for k, (lt, sym) in enumerate(zip(layers, symbols)):
            a = acc[k]
            coder_k = coder.coders[k]
            per_channel = np.array([coder_k.bits(sym.values[0, c], sym.table_ids[0, c]) for c in range(Ms[k])])
            a.bits += per_channel
            yh = lt.y_hat[0].double().flatten(1).numpy()
            a.sum += yh.sum(1)
            a.sum_sq += (yh**2).sum(1)
            a.count += yh.shape[1]
            a.images += 1
            if k == 0:
                a.scale_sum += top_scales * yh.shape[1]
                iso = top_isometric_bits(model, lt.y)
            else:
                a.scale_sum += lt.sigma[0].double().flatten(1).sum(1).numpy()
                a.step = lt.step[0, :, 0, 0].double().numpy()
                iso = gaussian_isometric_bits(lt)
            layer_bits.append(float(per_channel.sum()))
            layer_iso.append(float(iso.sum()))
            num_latents += lt.y.numel()
        iso_total = sum(layer_iso)
        per_image.append(ImageBits(name, image.shape[0] * image.shape[1], num_latents, sum(layer_bits),
                                   iso_total, iso_total + 0.5 * num_latents * math.log2(six_beta),
                                   tuple(layer_bits), tuple(layer_iso)))
    channels = []
    for k, a in enumerate(acc):
        mean = a.sum / a.count
        var = np.maximum(a.sum_sq / a.count - mean**2, 0.0)
        for c in range(Ms[k]):
            channels.append(ChannelStats(k, c, float(a.bits[c] / a.images), float(var[c]),
                                         float(a.scale_sum[c] / a.count), float(a.step[c])))
    return channels, per_image

"""The model's top-down pass with every per-layer quantity kept, and decoders built from it.

Both are policies of the model's one top-down pass (:meth:`HierarchicalVAE.top_down`)::

    x ─bottom_up─> feats ─┬─ layer 0:  y0 = f0,                         ŷ0 = round(y0),  Δ0 = 1
                          └─ layer k:  t = up(t); (mu, sigma) = prior(t); y = posterior(f_k, t)
                                       ŷ = mu + Δ round((y - mu) / Δ);    t = merge(t, ŷ)
    x̂ = g_s(t)      (the last merge hands ŷ of the finest layer to g_s)

All values are in latent units (the space of ``y``), float32, computed with the model
itself (not the float64 coding copy), so they differ from the coder's snapped values
only at rounding boundaries. ``quantize=False`` runs the same pass with ŷ = y: the
continuous encoder/decoder pair that the self-consistency test of IMA looks at.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from codec.model import HierarchicalVAE, LayerPrior

from .models import quality_tensor


@dataclass(frozen=True)
class LayerTrace:
    """One latent layer of a batch; all tensors (N, C, h, w) unless noted.

    Attributes:
        y: posterior mean (encoder output before quantization).
        y_hat: the latent the decoder sees (quantized unless the trace is continuous).
        mu: prior mean (zeros for the top layer: its factorized prior has no mean input).
        sigma: prior std in latent units; None for the top layer.
        step: (N, C, 1, 1) quantization step in latent units (ones for the top layer).
        symbols: round((y - mu) / step), float (what the entropy coder codes, before clamping).
    """

    y: torch.Tensor
    y_hat: torch.Tensor
    mu: torch.Tensor
    sigma: torch.Tensor | None
    step: torch.Tensor
    symbols: torch.Tensor


class TracePolicy:
    """Keeps every per-layer quantity; ŷ rounds the posterior (or is the posterior itself)."""

    def __init__(self, feats: list[torch.Tensor], quantize: bool):
        self.feats, self.quantize = feats, quantize
        self.layers: list[LayerTrace] = []

    def top(self) -> torch.Tensor:
        y = self.feats[0]
        y_hat = torch.round(y) if self.quantize else y
        ones = torch.ones(y.shape[0], y.shape[1], 1, 1, dtype=y.dtype)
        self.layers.append(LayerTrace(y, y_hat, torch.zeros_like(y), None, ones, torch.round(y)))
        return y_hat

    def latent(self, prior: LayerPrior) -> torch.Tensor:
        y = self.feats[prior.k]
        symbols = torch.round((y - prior.mu) / prior.step)
        y_hat = prior.mu + symbols * prior.step if self.quantize else y
        if prior.final:  # the whole layer's prior (a context's passes agree where they overlap)
            self.layers.append(LayerTrace(y, y_hat, prior.mu, prior.sigma, prior.step, symbols))
        return y_hat


class GivenLatents:
    """ŷ of each layer from ``latent(k, prior)``: given values, or ones that follow the prior."""

    def __init__(self, latent: Callable[[int, LayerPrior | None], torch.Tensor]):
        self._latent = latent

    def top(self) -> torch.Tensor:
        return self._latent(0, None)

    def latent(self, prior: LayerPrior) -> torch.Tensor:
        return self._latent(prior.k, prior)


@torch.no_grad()
def trace(model: HierarchicalVAE, x: torch.Tensor, quality: float,
          quantize: bool = True) -> tuple[list[LayerTrace], torch.Tensor]:
    """x: (N, 3, H, W) in [0, 1], H and W multiples of the top stride.

    Returns:
        per-layer traces (top first) and x_hat (N, 3, H, W), not clamped.
    """
    policy = TracePolicy(model.bottom_up(x), quantize)
    x_hat = model.g_s(model.top_down(policy, quality_tensor(quality, x.shape[0])))
    return policy.layers, x_hat


def decode_latents(model: HierarchicalVAE, y_hats: list[torch.Tensor]) -> torch.Tensor:
    """x_hat (N, 3, H, W) from given latents of every layer (absolute values, not residuals)."""
    q = quality_tensor(1.0, y_hats[0].shape[0], y_hats[0].dtype)
    return model.g_s(model.top_down(GivenLatents(lambda k, prior: y_hats[k]), q))


def layer_decoder(model: HierarchicalVAE, layers: list[LayerTrace], k: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The decoder as a function of layer ``k``'s latent alone, as the codec's decoder sees it.

    Layers above ``k`` stay at their ``y_hat``; layers below keep their *symbols* (they
    are coded as residuals against their prior mean), so their latents move with the prior
    mean: ``y_hat_j = mu_j(t) + step_j * symbols_j``. Uses ``layers[*]`` of a batch of one
    or more images (with their steps: the pass's own quality is not used).

    Returns:
        f: y_hat_k (N, C_k, h_k, w_k) -> x_hat (N, 3, H, W), differentiable.
    """
    def f(z: torch.Tensor) -> torch.Tensor:
        def latent(j: int, prior: LayerPrior | None) -> torch.Tensor:
            if j == k:
                return z
            if j < k:
                return layers[j].y_hat
            return prior.mu + layers[j].step * layers[j].symbols

        q = quality_tensor(1.0, z.shape[0], z.dtype)
        return model.g_s(model.top_down(GivenLatents(latent), q))

    return f

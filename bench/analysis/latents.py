"""The model's top-down pass with every per-layer quantity kept, and decoders built from it.

::

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
from torch.nn import functional as F

from codec.model import HierarchicalVAE

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


@torch.no_grad()
def trace(model: HierarchicalVAE, x: torch.Tensor, quality: float,
          quantize: bool = True) -> tuple[list[LayerTrace], torch.Tensor]:
    """x: (N, 3, H, W) in [0, 1], H and W multiples of the top stride.

    Returns:
        per-layer traces (top first) and x_hat (N, 3, H, W), not clamped.
    """
    q = quality_tensor(quality, x.shape[0])
    feats = model.bottom_up(x)
    y = feats[0]
    ones = torch.ones(y.shape[0], y.shape[1], 1, 1)
    y_hat = torch.round(y) if quantize else y
    layers = [LayerTrace(y, y_hat, torch.zeros_like(y), None, ones, torch.round(y))]
    t = model.top_expand(y_hat)
    for k in range(1, model.config.num_layers):
        t = model.up[k - 1](t)
        mu, raw = model.prior_raw(k, t)
        y = model.posterior(k, feats[k], t)
        step = model.log_step(k, q).exp()
        if model.has_context(k):  # the non-anchors' prior sees the decoded anchors
            anchors = mu + torch.round((y - mu) / step) * step if quantize else y
            mu, sigma = model.context_params(t, anchors, mu, raw)
        else:
            sigma = F.softplus(raw)
        symbols = torch.round((y - mu) / step)
        y_hat = mu + symbols * step if quantize else y
        layers.append(LayerTrace(y, y_hat, mu, sigma, step, symbols))
        t = model.merge[k - 1](t, y_hat)
    return layers, model.g_s(t)


def decode_latents(model: HierarchicalVAE, y_hats: list[torch.Tensor]) -> torch.Tensor:
    """x_hat (N, 3, H, W) from given latents of every layer (absolute values, not residuals)."""
    t = model.top_expand(y_hats[0])
    for k in range(1, model.config.num_layers):
        t = model.merge[k - 1](model.up[k - 1](t), y_hats[k])
    return model.g_s(t)


def layer_decoder(model: HierarchicalVAE, layers: list[LayerTrace], k: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The decoder as a function of layer ``k``'s latent alone, as the codec's decoder sees it.

    Layers above ``k`` stay at their ``y_hat``; layers below keep their *symbols* (they
    are coded as residuals against their prior mean), so their latents move with the prior
    mean: ``y_hat_j = mu_j(t) + step_j * symbols_j``. Uses ``layers[*]`` of a batch of one
    or more images.

    Returns:
        f: y_hat_k (N, C_k, h_k, w_k) -> x_hat (N, 3, H, W), differentiable.
    """
    L = model.config.num_layers

    def f(z: torch.Tensor) -> torch.Tensor:
        t = model.top_expand(z if k == 0 else layers[0].y_hat)
        for j in range(1, L):
            t = model.up[j - 1](t)
            if j < k:
                y_hat = layers[j].y_hat
            elif j == k:
                y_hat = z
            else:
                mu, raw = model.prior_raw(j, t)
                y_hat = mu + layers[j].step * layers[j].symbols
                if model.has_context(j):
                    mu, _ = model.context_params(t, y_hat, mu, raw)
                    y_hat = mu + layers[j].step * layers[j].symbols
            t = model.merge[j - 1](t, y_hat)
        return model.g_s(t)

    return f

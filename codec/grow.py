"""Widen the latent layers of a trained model without changing what it decodes.

Measured on Kodak (first 6 images), the trained 128-channel models decode their
*unquantized* latents at 32.1 dB (hvae-v2) and 33.4 dB (hvae-v3): the codec saturates at
high rate because the finest latent has 128 values per 16x16x3 = 768 pixel values.
Linear PCA of 16x16 Kodak blocks with 128/192/256 components gives 33.1/37.3/42.0 dB.
Growing the latent and training on keeps what the narrow model learned (Net2Net-style
widening, Chen et al. 2016) and lifts that ceiling.

The widening is function-preserving for the image path: every new latent channel enters
its consumers (the synthesis ``g_s``, the hyper-analysis ``down``, a ``merge``, the top
expansion) through zero weights, and its prior mean is 0. Its producer row is random with
the median norm of the old rows, so the new channels carry signal from the first step
(zero rows would leave them at a dead point: a latent that always rounds to 0 gets no
gradient through the rounding). The new channels do add rate, which training trades
against the distortion they can remove: their prior scale starts at their measured spread
and their quantization steps at the median of the old channels' steps.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from .config import ModelConfig
from .model import HierarchicalVAE


def check(old: ModelConfig, new: ModelConfig) -> None:
    """Raise ValueError unless ``new`` is ``old`` with equal or wider latent layers."""
    if (old.image_channels, old.channels, old.base_stride, old.num_layers) != (
        new.image_channels, new.channels, new.base_stride, new.num_layers
    ):
        raise ValueError(
            "only latent channels can grow: the source has image_channels "
            f"{old.image_channels}, channels {old.channels}, base_stride {old.base_stride}, "
            f"{old.num_layers} layers"
        )
    if any(b < a for a, b in zip(old.latent_channels, new.latent_channels)):
        raise ValueError(
            f"latent channels can only grow: {list(old.latent_channels)} -> {list(new.latent_channels)}"
        )
    if old.context != new.context and old.context != "none":
        raise ValueError(f"a context can be added, not changed or removed: {old.context} -> {new.context}")


def _rows(model: HierarchicalVAE, k: int):
    """(producer conv, consumer convs with the channel offset of layer k's latent)."""
    L = model.config.num_layers
    producer = model.g_a[-1] if k == L - 1 else model.down[L - 2 - k][-1]
    consumers = []  # (module, input offset, transposed)
    if k >= 1:
        consumers.append((model.down[L - 1 - k][0], 0, False))
    if k == 0 and L > 1:
        consumers.append((model.top_expand[0], 0, False))
    if k == L - 1:
        consumers.append((model.g_s[0], 0, True))
    elif k >= 1:
        consumers.append((model.merge[k - 1].body[0], model.config.channels, False))
    return producer, consumers


@torch.no_grad()
def grow(source: HierarchicalVAE, latent_channels: tuple[int, ...], images: torch.Tensor | None = None,
         seed: int = 0, context: str | None = None) -> HierarchicalVAE:
    """A copy of ``source`` with wider latent layers (top first), decoding the same images.

    Args:
        source: a trained model.
        latent_channels: the new widths, one per layer, each >= the source's.
        images: (N, 3, H, W) crops in [0, 1] used to set the new channels' prior scales
            to their spread; without them the scales start at 1.
        seed: seeds the new producer rows.
        context: add this spatial context (see :class:`ModelConfig`) to a model without
            one; it starts with a zero correction, so the rates stay the same too.
    """
    old_cfg = source.config
    new_cfg = replace(old_cfg, latent_channels=tuple(latent_channels), context=context or old_cfg.context)
    check(old_cfg, new_cfg)
    generator = torch.Generator().manual_seed(seed)
    model = HierarchicalVAE(new_cfg)
    src = source.state_dict()
    dst = model.state_dict()

    # 1. Everything that does not change shape is copied.
    for name, value in src.items():
        if dst[name].shape == value.shape:
            dst[name].copy_(value)

    for k, (m, M) in enumerate(zip(old_cfg.latent_channels, new_cfg.latent_channels)):
        if M == m:
            continue
        old_producer, old_consumers = _rows(source, k)
        producer, consumers = _rows(model, k)
        # Producer: old rows kept, new rows random with the old rows' median norm.
        w_old = old_producer.weight
        producer.weight[:m] = w_old
        producer.bias[:m] = old_producer.bias
        if M > m:
            norms = w_old.flatten(1).norm(dim=1)
            fresh = torch.randn((M - m, *w_old.shape[1:]), generator=generator)
            fresh *= norms.median() / fresh.flatten(1).norm(dim=1)[:, None, None, None]
            producer.weight[m:] = fresh
            producer.bias[m:] = 0
        # Consumers: old columns kept, new columns zero (the image path is unchanged).
        for (new_c, offset, transposed), (old_c, _, _) in zip(consumers, old_consumers):
            if transposed:  # ConvTranspose2d weight: (in, out, kh, kw)
                new_c.weight.zero_()
                new_c.weight[:m] = old_c.weight
            else:
                new_c.weight[:, offset + m:] = 0  # the latent is the last input block
                new_c.weight[:, :offset + m] = old_c.weight
            new_c.bias.copy_(old_c.bias)
        if k == 0:  # the factorized density: old channels kept, new ones freshly initialised
            params = dict(model.named_parameters())
            for name, value in src.items():
                if name.startswith("top_density."):
                    params[name][:m] = value
            continue
        # Prior: (mu, raw scale) halves; new means 0, new scales set below.
        old_prior, prior = source.prior[k - 1][-1], model.prior[k - 1][-1]
        for half in range(2):
            prior.weight[half * M:half * M + m] = old_prior.weight[half * m:(half + 1) * m]
            prior.bias[half * M:half * M + m] = old_prior.bias[half * m:(half + 1) * m]
            prior.weight[half * M + m:(half + 1) * M] = 0
            prior.bias[half * M + m:(half + 1) * M] = 0
        # Quantization steps of the new channels: the old channels' median, per quality.
        table = source.log_steps[k - 1]
        model.log_steps[k - 1][:, :m] = table
        model.log_steps[k - 1][:, m:] = table.median(dim=1, keepdim=True).values

    feats = model.bottom_up(images.float()) if images is not None else None
    for k in range(1, new_cfg.num_layers):
        m, M = old_cfg.latent_channels[k], new_cfg.latent_channels[k]
        if M == m:
            continue
        spread = feats[k][:, m:].std(dim=(0, 2, 3)).clamp_min(1e-3) if feats is not None else torch.ones(M - m)
        # softplus^-1(s) = log(exp(s) - 1), stable for large s.
        raw = spread + torch.log(-torch.expm1(-spread))
        model.prior[k - 1][-1].bias[M + m:] = raw
    return model


def describe(old: ModelConfig, new: ModelConfig) -> str:
    changes = [f"layer {k + 1}: {a} -> {b}"
               for k, (a, b) in enumerate(zip(old.latent_channels, new.latent_channels)) if a != b]
    if old.context != new.context:
        changes.append(f"context: {old.context} -> {new.context}")
    return ", ".join(changes) or "no change"


"""Widen a trained model (its latent layers, its image transforms) without changing what it
decodes.

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

The image transforms ``g_a`` / ``g_s`` (``image_channels`` wide) widen the same way: every
new hidden channel has a random producer row, a zero column in the next convolution, and a
GDN row of its own that the old channels' normalisation does not see. Measured on Kodak
(first 6 images), the 64-channel transforms of hvae-v7 decode their unquantized latents at
36.8 dB, while its highest quality already reaches 36.1 dB (all 24 images): the transforms
are the ceiling at high rate.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from ..config import ModelConfig
from ..layers import GDN
from ..model import HierarchicalVAE


def check(old: ModelConfig, new: ModelConfig) -> None:
    """Raise ValueError unless ``new`` is ``old`` with equal or wider latent layers and image
    transforms."""
    if (old.channels, old.base_stride, old.num_layers) != (new.channels, new.base_stride, new.num_layers):
        raise ValueError(
            "only latent and image channels can grow: the source has channels "
            f"{old.channels}, base_stride {old.base_stride}, {old.num_layers} layers"
        )
    if new.image_channels < old.image_channels:
        raise ValueError(f"image channels can only grow: {old.image_channels} -> {new.image_channels}")
    if any(b < a for a, b in zip(old.latent_channels, new.latent_channels)):
        raise ValueError(
            f"latent channels can only grow: {list(old.latent_channels)} -> {list(new.latent_channels)}"
        )
    if old.context != new.context and old.context != "none":
        raise ValueError(f"a context can be added, not changed or removed: {old.context} -> {new.context}")
    if old.inject and not new.inject:
        raise ValueError("the injection of the top-down state can be added, not removed")


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


def _fresh_rows(like: torch.Tensor, count: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` random slices along ``dim`` with the median norm of the slices of ``like``."""
    moved = like.movedim(dim, 0)
    norms = moved.flatten(1).norm(dim=1)
    fresh = torch.randn((count, *moved.shape[1:]), generator=generator)
    fresh *= norms.median() / fresh.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (fresh.dim() - 1))
    return fresh.movedim(0, dim)


@torch.no_grad()
def _widen_transforms(source: HierarchicalVAE, image_channels: int, generator: torch.Generator) -> HierarchicalVAE:
    """A copy of ``source`` whose g_a and g_s have ``image_channels`` hidden channels."""
    model = HierarchicalVAE(replace(source.config, image_channels=image_channels))
    src = source.state_dict()
    model.load_state_dict({k: v for k, v in src.items() if not k.startswith(("g_a.", "g_s."))}, strict=False)
    for old_seq, new_seq in ((source.g_a, model.g_a), (source.g_s, model.g_s)):
        for old, new in zip(old_seq, new_seq):
            if isinstance(new, GDN):
                m = old.beta_sqrt.shape[0]
                new.beta_sqrt[:m] = old.beta_sqrt
                new.gamma_sqrt[:m, :m] = old.gamma_sqrt
                new.gamma_sqrt[:m, m:] = 0  # the old channels' norm does not see the new ones
                new.gamma_sqrt[m:, :m] = 0
                continue
            # Conv2d weight (out, in, kh, kw); ConvTranspose2d weight (in, out, kh, kw).
            w_old, w = old.weight, new.weight
            out_dim, in_dim = (1, 0) if isinstance(new, torch.nn.ConvTranspose2d) else (0, 1)
            n_out, n_in = w_old.shape[out_dim], w_old.shape[in_dim]
            w.zero_()  # new inputs enter every output through zeros
            w.narrow(out_dim, 0, n_out).narrow(in_dim, 0, n_in).copy_(w_old)
            extra = w.shape[out_dim] - n_out
            if extra:  # new outputs: random rows over the old inputs, the old rows' median norm
                rows = _fresh_rows(w_old, extra, out_dim, generator)
                w.narrow(out_dim, n_out, extra).narrow(in_dim, 0, n_in).copy_(rows)
            new.bias.zero_()
            new.bias[:n_out] = old.bias
    return model


@torch.no_grad()
def grow(source: HierarchicalVAE, latent_channels: tuple[int, ...], images: torch.Tensor | None = None,
         seed: int = 0, context: str | None = None, image_channels: int | None = None,
         inject: bool = False) -> HierarchicalVAE:
    """A copy of ``source`` with wider latent layers (top first), decoding the same images.

    Args:
        source: a trained model.
        latent_channels: the new widths, one per layer, each >= the source's.
        images: (N, 3, H, W) crops in [0, 1] used to set the new channels' prior scales
            to their spread; without them the scales start at 1.
        seed: seeds the new producer rows.
        context: add this spatial context (see :class:`ModelConfig`) to a model without
            one; it starts with a zero correction, so the rates stay the same too.
        image_channels: widen the image transforms g_a and g_s to this many channels.
        inject: add the projection of the top-down state into the synthesis input
            (:class:`ModelConfig` ``inject``); it starts at zero, so the image is the same.
    """
    new_cfg = replace(source.config, latent_channels=tuple(latent_channels),
                      context=context or source.config.context,
                      image_channels=image_channels or source.config.image_channels,
                      inject=inject or source.config.inject)
    check(source.config, new_cfg)
    generator = torch.Generator().manual_seed(seed)
    if new_cfg.image_channels != source.config.image_channels:
        source = _widen_transforms(source, new_cfg.image_channels, generator)
    old_cfg = source.config
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
    changes = []
    if old.image_channels != new.image_channels:
        changes.append(f"image channels: {old.image_channels} -> {new.image_channels}")
    changes += [f"layer {k + 1}: {a} -> {b}"
                for k, (a, b) in enumerate(zip(old.latent_channels, new.latent_channels)) if a != b]
    if old.context != new.context:
        changes.append(f"context: {old.context} -> {new.context}")
    if old.inject != new.inject:
        changes.append("the top-down state now feeds the synthesis (inject)")
    return ", ".join(changes) or "no change"


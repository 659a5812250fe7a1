"""The transform: a hierarchical VAE with a top-down prior (a deep mean-scale hyperprior).

::

    x ─g_a─> y = f[L-1] (stride 16) ─h_a─> f[L-2] (stride 32) ─h_a─> f[0] (stride 64)
                                                                        │
    top layer 0:   ŷ0 = round(f[0]) ~ factorized prior               t = expand(ŷ0)
    layer k >= 1:  t = up_k(t);  (mu_k, sigma_k) = prior_k(t)
                   ŷ_k = mu_k + Δ_k(q) * round((f[k] - mu_k) / Δ_k(q))
                   t = merge_k(t, ŷ_k)        (the last layer: t = ŷ_{L-1}, or ŷ_{L-1} + P(t) with inject)
    x̂ = g_s(t)

The encoder is bottom-up only (Balle et al. 2018, Minnen et al. 2018, extended to a
hierarchy of hyper-latents); the decoder is top-down, each layer's Gaussian prior
predicted from the layers above. The prior means carry image content, so decoding only
the top ``k`` layers, with the rest set to their prior means (symbol 0), still gives a
valid, coarser image: ``x̂ = g_s(mu_{L-1})`` (progressive decoding).

Each layer below the top is coded as a residual against its prior mean, in steps of a
per-channel quantization step Δ_k(q) that depends on the quality ``q`` (gain units,
Cui et al. 2021), so one model covers the whole rate range.

With ``context="checkerboard"`` the finest layer is coded in two halves (He et al. 2021):
its anchors ((i + j) even) under the prior above, then the other half under a prior that
also sees the decoded anchors around each position.

The top-down loop is written once, :meth:`HierarchicalVAE.top_down`; a small policy object
decides each layer's latent ŷ. Training (:class:`TrainingPolicy`) uses additive uniform
noise for the rate and straight-through rounding for the reconstruction (Minnen & Singh
2020); coding (``codec.latent_codec.CodingPolicy``) snaps the prior and takes symbols from the
posterior or the ANS stream; the analyses (``bench.analysis.latents``) record or substitute
latents. ``forward`` returns the bits of each layer,
so the loss with per-layer betas (Xiao & Bamler 2023) is one line::

    out = model(x, quality)
    loss = (lmbda * 255**2 * mse(out.x_hat, x) + sum(b * r for b, r in zip(betas, out.bpp))).mean()

Design note: an earlier ladder variant (posteriors conditioned on the top-down state,
QRes-VAE style) learned ~3 dB slower in the first 1000 CPU steps than CompressAI's
mbt2018-mean with the same recipe; this bottom-up encoder keeps mbt's short image path.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn
from torch.nn import functional as F

from .bands import row_halo, rows_of
from .config import ModelConfig
from .entropy_models import FactorizedDensity, gaussian_bits
from .layers import GDN, InjectState, ResidualMerge, TakeLatent, conv, deconv


@dataclass(frozen=True)
class ForwardOutput:
    """Training-time output.

    Attributes:
        x_hat: (N, 3, H, W) reconstruction, float, not clamped.
        bits: per layer (top first), (N,) estimated bits of each image.
        bpp: per layer (top first), (N,) bits per pixel of each image.
        channel_bits: per layer (top first), (N, C_k) estimated bits of each channel, so
            training can weight channels (``codec train --grow-warmup``); None for the peer.
        x_hat_prefix: with ``prefix_layers``, the prefix decode (N, 3, H, W), not clamped.
    """

    x_hat: torch.Tensor
    bits: list[torch.Tensor]
    bpp: list[torch.Tensor]
    channel_bits: list[torch.Tensor] | None = None
    x_hat_prefix: torch.Tensor | None = None


def between_anchors(table: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Rows of ``table`` (Q, ...), one per quality anchor, interpolated linearly at continuous
    qualities (N,) in [1, Q] (clamped) -> (N, ...), in the dtype of ``table``."""
    Q = table.shape[0]
    if Q == 1:
        return table[0].expand(quality.shape[0], *table.shape[1:])
    pos = (quality - 1).clamp(0, Q - 1)
    i0 = pos.floor().long().clamp(max=Q - 2)
    w = (pos - i0.to(pos.dtype)).reshape(-1, *[1] * (table.dim() - 1))
    return (1 - w) * table[i0] + w * table[i0 + 1]


def ste_round(v: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return v + (torch.round(v) - v).detach()


def uniform_noise(v: torch.Tensor) -> torch.Tensor:
    return v + torch.empty_like(v).uniform_(-0.5, 0.5)


class HierarchicalVAE(nn.Module):
    # The modules of the top-down pass at latent resolution (what coding runs in float64).
    TOP_DOWN_MODULES = ("top_expand", "up", "prior", "merge", "context")

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        Ni, N, L = config.image_channels, config.channels, config.num_layers
        Ms = config.latent_channels

        n_img_stages = int(math.log2(config.base_stride))
        analysis: list[nn.Module] = []
        synthesis: list[nn.Module] = []
        for i in range(n_img_stages):
            last = i == n_img_stages - 1
            analysis += [conv(3 if i == 0 else Ni, Ms[-1] if last else Ni)] + ([] if last else [GDN(Ni)])
            synthesis += [deconv(Ms[-1] if i == 0 else Ni, 3 if last else Ni)]
            synthesis += [] if last else [GDN(Ni, inverse=True)]
        self.g_a = nn.Sequential(*analysis)
        self.g_s = nn.Sequential(*synthesis)

        # Bottom-up hyper-analysis: layer k+1 (finer) -> layer k (one stride coarser).
        self.down = nn.ModuleList(
            nn.Sequential(conv(Ms[k + 1], N, 3, 1), nn.LeakyReLU(0.1), conv(N, N, 5, 2),
                          nn.LeakyReLU(0.1), conv(N, Ms[k], 3, 1))
            for k in reversed(range(L - 1))
        )
        self.top_density = FactorizedDensity(Ms[0])
        self.top_expand = (nn.Sequential(conv(Ms[0], N, 3, 1), nn.LeakyReLU(0.1), conv(N, N, 3, 1))
                           if L > 1 else nn.Identity())  # one layer: the top latent feeds g_s

        self.up = nn.ModuleList()
        self.prior = nn.ModuleList()
        self.merge = nn.ModuleList()
        for k in range(1, L):
            self.up.append(nn.Sequential(deconv(N, N, 5, 2), nn.LeakyReLU(0.1)))
            self.prior.append(nn.Sequential(conv(N, N, 3, 1), nn.LeakyReLU(0.1), conv(N, 2 * Ms[k], 3, 1)))
            # The finest layer's latent is the synthesis input itself (with ``inject``, plus a
            # projection of the top-down state).
            last = InjectState(N, Ms[k]) if config.inject else TakeLatent()
            self.merge.append(ResidualMerge(N, Ms[k]) if k < L - 1 else last)

        # Checkerboard context of the finest layer: the decoded anchors (a 5x5 neighbourhood)
        # and the top-down state give an additive correction to the non-anchors' prior
        # (mean, raw scale). Its last convolution starts at zero, so adding a context to a
        # trained model (``codec train --init-from --context``) leaves it unchanged.
        self.context = None
        if config.context == "checkerboard" and L > 1:
            self.context = nn.Sequential(
                conv(N + Ms[-1], N, 5, 1), nn.LeakyReLU(0.1),
                conv(N, N, 1, 1), nn.LeakyReLU(0.1),
                conv(N, 2 * Ms[-1], 1, 1),
            )
            nn.init.zeros_(self.context[-1].weight)
            nn.init.zeros_(self.context[-1].bias)

        # Log quantization steps per quality anchor and channel of each layer below the top.
        # High-rate theory: D ~ step^2 and D ~ 1/lambda at the optimum, so step ~ lambda^-1/2.
        lam = torch.tensor(config.lambdas, dtype=torch.float64)
        init = -0.5 * torch.log(lam / lam.log().mean().exp())
        self.log_steps = nn.ParameterList(
            nn.Parameter(init[:, None].repeat(1, Ms[k]).float()) for k in range(1, L)
        )

    # -- pieces shared by training and coding --------------------------------------------
    def bottom_up(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (N, 3, H, W) in [0, 1], H and W multiples of the top stride -> features, top first."""
        return self.hyper_analysis(self.g_a(x))

    def hyper_analysis(self, f: torch.Tensor) -> list[torch.Tensor]:
        """The finest layer's feature ``g_a(x)`` -> the features of every layer, top first."""
        feats = [f]
        for down in self.down:
            f = down(f)
            feats.append(f)
        return feats[::-1]

    def has_context(self, k: int) -> bool:
        return self.context is not None and k == self.config.num_layers - 1

    @staticmethod
    def anchors(height: int, width: int, device=None) -> torch.Tensor:
        """Checkerboard anchor positions, (h, w) bool: (i + j) even."""
        i = torch.arange(height, device=device)[:, None]
        j = torch.arange(width, device=device)[None, :]
        return (i + j) % 2 == 0

    def top_down(self, policy: "TopDownPolicy", quality: torch.Tensor,
                 band_positions: int | None = None) -> torch.Tensor:
        """The top-down pass, the one loop training, coding and the analyses share.

        ``policy`` decides each layer's latent ŷ (:class:`TopDownPolicy`); this loop owns
        everything else: the top-down state, each layer's prior, the quantization steps and
        the checkerboard context. quality: (N,), in the dtype the pass runs in.
        ``band_positions``: compute the finest layer in bands of rows of about this many
        positions (coding, format version 5; :mod:`codec.bands`), or as a whole (None).

        Returns:
            the last top-down state, the input of ``g_s`` (``g_s(top_down(...))`` is x̂).
        """
        t = self.top_expand(policy.top())
        L = self.config.num_layers
        for k in range(1, L):
            t = self.up[k - 1](t)
            step = self.log_step(k, quality).exp()
            h, w = t.shape[-2:]
            rows = h
            if band_positions is not None and k == L - 1:
                rows = max(band_positions // w, row_halo(self.context) if self.has_context(k) else 1)
            if rows >= h:
                y_hat = self._layer_latent(policy, k, t, step)
            else:
                y_hat = self._banded_layer_latent(policy, k, t, step, rows)
            t = self.merge[k - 1](t, y_hat)
        return t

    def _layer_latent(self, policy: "TopDownPolicy", k: int, t: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """ŷ of layer k >= 1 from the top-down state at its resolution, the whole layer at once."""
        mu, raw = self.prior[k - 1](t).chunk(2, dim=1)
        if not self.has_context(k):
            return policy.latent(LayerPrior(k, t, mu, F.softplus(raw), step))
        # anchors under the prior from above, then the rest given them
        anchor = self.anchors(*mu.shape[-2:], device=mu.device)
        y_hat = policy.latent(LayerPrior(k, t, mu, F.softplus(raw), step, anchor, final=False))
        d_mu, d_raw = self.context(torch.cat([t, y_hat * anchor], dim=1)).chunk(2, dim=1)
        prior = LayerPrior(k, t, torch.where(anchor, mu, mu + d_mu),
                           F.softplus(torch.where(anchor, raw, raw + d_raw)), step, ~anchor)
        del mu, raw, d_mu, d_raw  # at coding time these are the largest tensors alive
        return torch.where(anchor, y_hat, policy.latent(prior))

    def _banded_layer_latent(self, policy: "TopDownPolicy", k: int, t: torch.Tensor, step: torch.Tensor,
                             rows: int) -> torch.Tensor:
        """:meth:`_layer_latent` in bands of ``rows`` rows, each band's prior (and context) from
        the rows of ``t`` (and of the anchors) around it (:func:`codec.bands.rows_of`). With a
        context, a band's other half is decided once the anchors of the next band are, so the
        passes go: anchors 0, anchors 1, rest 0, anchors 2, rest 1, ... (``rows`` must cover the
        context's halo)."""
        N, _, h, w = t.shape
        bands = [Band(r0, min(h, r0 + rows), h) for r0 in range(0, h, rows)]
        y_hat = t.new_empty(N, self.config.latent_channels[k], h, w)

        def prior_of(band: Band) -> tuple[torch.Tensor, torch.Tensor]:
            return rows_of(self.prior[k - 1], lambda a, b: t[..., a:b, :], h, band.start, band.stop).chunk(2, dim=1)

        if not self.has_context(k):
            for band in bands:
                mu, raw = prior_of(band)
                y_hat[..., band.rows, :] = policy.latent(
                    LayerPrior(k, t[..., band.rows, :], mu, F.softplus(raw), step, band=band))
            return y_hat
        anchor = self.anchors(h, w, device=t.device)

        def context_input(a: int, b: int) -> torch.Tensor:  # the state and the anchors (only) of rows a:b
            return torch.cat([t[..., a:b, :], y_hat[..., a:b, :] * anchor[a:b]], dim=1)

        def rest(band: Band, mu: torch.Tensor, raw: torch.Tensor) -> None:
            d_mu, d_raw = rows_of(self.context, context_input, h, band.start, band.stop).chunk(2, dim=1)
            a = anchor[band.rows]
            prior = LayerPrior(k, t[..., band.rows, :], torch.where(a, mu, mu + d_mu),
                               F.softplus(torch.where(a, raw, raw + d_raw)), step, ~a, band=band)
            y_hat[..., band.rows, :] = torch.where(a, y_hat[..., band.rows, :], policy.latent(prior))

        waiting = None  # the band whose anchors are decided and whose rest waits for the next band's
        for band in bands:
            mu, raw = prior_of(band)
            y_hat[..., band.rows, :] = policy.latent(LayerPrior(
                k, t[..., band.rows, :], mu, F.softplus(raw), step, anchor[band.rows], final=False, band=band))
            if waiting is not None:
                rest(*waiting)
            waiting = (band, mu, raw)
        rest(*waiting)
        return y_hat

    def log_step(self, k: int, quality: torch.Tensor) -> torch.Tensor:
        """Log quantization step of layer k >= 1 at continuous quality q in [1, Q].

        quality: (N,) float -> (N, C_k, 1, 1), interpolated between anchors (in the
        dtype of ``quality``, so coding can run it in float64).
        """
        return between_anchors(self.log_steps[k - 1].to(quality.dtype), quality)[:, :, None, None]

    def lmbda(self, quality: torch.Tensor) -> torch.Tensor:
        """Rate-distortion weight at continuous quality (log-linear between anchors). (N,)"""
        lam = torch.tensor(self.config.lambdas, dtype=quality.dtype, device=quality.device).log()
        return between_anchors(lam, quality).exp()

    # -- training ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, quality: torch.Tensor, prefix_layers: int | None = None) -> ForwardOutput:
        """x: (N, 3, H, W) in [0, 1]; quality: (N,) float in [1, Q]. ``prefix_layers`` = k:
        also the k-layer prefix decode of the same latents (``x_hat_prefix``: the layers below
        at their prior means, as a progressive decoder sees them)."""
        num_pixels = x.shape[2] * x.shape[3]
        feats = self.bottom_up(x)
        policy = TrainingPolicy(self, feats)
        x_hat = self.g_s(self.top_down(policy, quality))
        bits = [b.sum(dim=1) for b in policy.channel_bits]
        prefix = None
        if prefix_layers is not None:
            prefix = self.g_s(self.top_down(PrefixPolicy(self, feats, prefix_layers), quality))
        return ForwardOutput(x_hat=x_hat, bits=bits, bpp=[b / num_pixels for b in bits],
                             channel_bits=policy.channel_bits, x_hat_prefix=prefix)


@dataclass(frozen=True)
class Band:
    """Rows ``start:stop`` of a layer ``height`` rows high."""

    start: int
    stop: int
    height: int

    @property
    def rows(self) -> slice:
        return slice(self.start, self.stop)


@dataclass(frozen=True)
class LayerPrior:
    """What the top-down pass knows of layer k >= 1 when a policy decides its latent.

    All tensors are (N, C_k, h, w) in latent units unless noted.

    Attributes:
        k: the layer (0 is the top).
        t: the top-down state at the layer's resolution, (N, channels, h, w).
        mu, sigma: the prior's mean and std (not snapped).
        step: (N, C_k, 1, 1) quantization step at the pass's quality.
        mask: (h, w) bool, the positions this pass decides (a layer with a context is
            decided in passes: its anchors, then the rest), or None for the whole layer.
            Only these positions of the returned latent are used.
        final: whether this is the layer's last pass. Its ``mu`` and ``sigma`` are then the
            prior of the whole layer: at the positions of earlier passes, their values.
        band: for a layer decided in bands of rows (format version 5), the rows this prior
            covers: its tensors and ``mask`` are those rows only; None for the whole layer.
    """

    k: int
    t: torch.Tensor
    mu: torch.Tensor
    sigma: torch.Tensor
    step: torch.Tensor
    mask: torch.Tensor | None = None
    final: bool = True
    band: Band | None = None


class TopDownPolicy(Protocol):
    """Decides each layer's latent ŷ in :meth:`HierarchicalVAE.top_down`.

    Training (:class:`TrainingPolicy`), encoding and decoding (``codec.latent_codec``) and the
    analyses (``bench.analysis.latents``) differ only here: where a latent comes from
    (the posterior, rounded or noisy; the ANS stream; given values) and what is recorded.
    """

    def top(self) -> torch.Tensor:
        """ŷ of the top layer, (N, C_0, h_0, w_0); it has a factorized prior, no mean."""

    def latent(self, prior: LayerPrior) -> torch.Tensor:
        """ŷ of layer ``prior.k`` (absolute, not a residual), valid at ``prior.mask``."""


class TrainingPolicy:
    """Uniform noise for the rate, straight-through rounding into the decoder (Minnen & Singh
    2020). Collects ``channel_bits``: per layer (top first), (N, C_k) estimated bits."""

    def __init__(self, model: HierarchicalVAE, feats: list[torch.Tensor]):
        self.model, self.feats = model, feats
        self.channel_bits: list[torch.Tensor] = []

    def top(self) -> torch.Tensor:
        y = self.feats[0]
        self.channel_bits.append(float32_bits(lambda: self.model.top_density.bits(uniform_noise(y.float()))))
        return ste_round(y)

    def latent(self, prior: LayerPrior) -> torch.Tensor:
        v = (self.feats[prior.k] - prior.mu) / prior.step
        if prior.final:  # the whole layer's rate under its whole prior
            sigma = (prior.sigma / prior.step).float()
            self.channel_bits.append(float32_bits(lambda: gaussian_bits(uniform_noise(v.float()), sigma)))
        return prior.mu + ste_round(v) * prior.step


class PrefixPolicy:
    """A k-layer prefix decode in training: the top ``keep`` layers straight-through rounded as
    in :class:`TrainingPolicy`, the layers below at their prior means (symbol 0)."""

    def __init__(self, model: HierarchicalVAE, feats: list[torch.Tensor], keep: int):
        self.model, self.feats, self.keep = model, feats, keep

    def top(self) -> torch.Tensor:
        return ste_round(self.feats[0])

    def latent(self, prior: LayerPrior) -> torch.Tensor:
        if prior.k >= self.keep:
            return prior.mu
        return prior.mu + ste_round((self.feats[prior.k] - prior.mu) / prior.step) * prior.step


def float32_bits(bits_fn) -> torch.Tensor:
    """Bits per image and channel, (N, C), always in float32 (outside any bf16 autocast: bf16
    has an 8-bit mantissa)."""
    with torch.autocast("cpu", enabled=False), torch.autocast("cuda", enabled=False):
        return bits_fn().sum(dim=(2, 3))

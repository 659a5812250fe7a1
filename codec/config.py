"""Architecture description of a hierarchical VAE codec.

A :class:`ModelConfig` is stored inside every checkpoint, so a checkpoint can be
loaded without knowing its shape beforehand.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

# CompressAI's lambda ladder (MSE on [0, 1] images, loss = lmbda * 255^2 * MSE + bpp).
DEFAULT_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)
CONTEXTS = ("none", "checkerboard")
# Every model's default quality sits at this weight (CompressAI's quality 4; 0.72 bpp /
# 32.6 dB on Kodak for hvae-v7), wherever the model puts its quality anchors.
DEFAULT_LAMBDA = 0.013


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a :class:`codec.model.HierarchicalVAE`.

    Layers are listed in decode order: index 0 is the top (coarsest) layer with the
    factorized prior, the last index is the finest layer, at stride ``base_stride``.
    Layer ``k`` lives at stride ``base_stride * 2 ** (L - 1 - k)``.

    Attributes:
        image_channels: width of the full-resolution transforms g_a and g_s.
        channels: width of the hyper-analysis and the top-down trunk (strides 16 and coarser).
        latent_channels: latent channels per layer, top first.
        base_stride: stride of the finest latent layer (a power of two, >= 2).
        lambdas: rate-distortion weights of the quality anchors; quality ``q`` in
            ``[1, len(lambdas)]`` interpolates between anchors.
        context: spatial context of the finest layer: ``"none"`` (its prior comes from
            the layers above only) or ``"checkerboard"`` (He et al. 2021: half of its
            positions, the anchors, are coded first; the prior of the other half also
            sees the decoded anchors around it).
        inject: the top-down state at the finest layer, which carries every upper layer's
            quantized latent, also feeds the synthesis: ``x̂ = g_s(ŷ + P(t))`` with a 1x1
            projection ``P`` that starts at zero (so it can be added to a trained model without
            changing what it decodes), as the latents of Xiao & Bamler's and QRes-VAE's models
            feed their image path; the upper layers can then carry image content themselves.
    """

    name: str = "hvae"
    image_channels: int = 64
    channels: int = 96
    latent_channels: tuple[int, ...] = (32, 64, 128)
    base_stride: int = 16
    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS
    context: str = "none"
    inject: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "latent_channels", tuple(int(c) for c in self.latent_channels))
        object.__setattr__(self, "lambdas", tuple(float(v) for v in self.lambdas))
        if len(self.latent_channels) < 1:
            raise ValueError("a model needs at least one latent layer")
        if self.base_stride < 2 or self.base_stride & (self.base_stride - 1):
            raise ValueError("base_stride must be a power of two >= 2")
        if any(a >= b for a, b in zip(self.lambdas, self.lambdas[1:])):
            raise ValueError("lambdas must be strictly increasing")
        if self.context not in CONTEXTS:
            raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, not {self.context!r}")

    @property
    def num_layers(self) -> int:
        return len(self.latent_channels)

    @property
    def strides(self) -> tuple[int, ...]:
        """Stride of each layer, top first, e.g. (64, 32, 16)."""
        L = self.num_layers
        return tuple(self.base_stride * 2 ** (L - 1 - k) for k in range(L))

    @property
    def pad_multiple(self) -> int:
        """Images are padded to a multiple of the top layer's stride."""
        return self.strides[0]

    @property
    def num_qualities(self) -> int:
        return len(self.lambdas)

    def quality_at(self, lmbda: float) -> float:
        """The quality whose rate-distortion weight is ``lmbda`` (log-linear between the
        anchors, as training interpolates them; clamped to [1, Q]), to 0.001."""
        log_lambdas = [math.log(v) for v in self.lambdas]
        x = min(max(math.log(lmbda), log_lambdas[0]), log_lambdas[-1])
        for i, (lo, hi) in enumerate(zip(log_lambdas, log_lambdas[1:])):
            if x <= hi:
                return round(1 + i + (x - lo) / (hi - lo), 3)
        return 1.0  # one anchor

    @property
    def default_quality(self) -> float:
        """The quality at :data:`DEFAULT_LAMBDA`: 4.0 for the 8 default anchors."""
        return self.quality_at(DEFAULT_LAMBDA)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        return cls(**data)

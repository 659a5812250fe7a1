"""Building blocks of the transforms: convolutions and (inverse) GDN."""
from __future__ import annotations

import torch
from torch import nn


def conv(in_ch: int, out_ch: int, kernel: int = 5, stride: int = 2) -> nn.Conv2d:
    """Convolution that divides the resolution by ``stride`` exactly (same padding)."""
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2)


def deconv(in_ch: int, out_ch: int, kernel: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """Transposed convolution that multiplies the resolution by ``stride`` exactly."""
    return nn.ConvTranspose2d(
        in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, output_padding=stride - 1
    )


class GDN(nn.Module):
    """Simplified generalized divisive normalization (Johnston et al. 2019, Balle et al. 2016).

    ``y_i = x_i / (beta_i + sum_j gamma_ij |x_j|)``; the inverse multiplies instead.
    ``beta`` and ``gamma`` are kept non-negative by a squared reparametrisation with a floor.
    """

    def __init__(self, channels: int, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta_sqrt = nn.Parameter(torch.ones(channels))
        self.gamma_sqrt = nn.Parameter(torch.sqrt(0.1 * torch.eye(channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta_sqrt.square() + 1e-6
        gamma = self.gamma_sqrt.square()
        C = x.shape[1]
        norm = nn.functional.conv2d(x.abs(), gamma.reshape(C, C, 1, 1), beta)
        return x * norm if self.inverse else x / norm


class ResidualMerge(nn.Module):
    """``t + f([t, y])``: folds a decoded latent ``y`` into the top-down state ``t``."""

    def __init__(self, channels: int, latent_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(channels + latent_channels, channels, 3, 1),
            nn.LeakyReLU(0.1),
            conv(channels, channels, 3, 1),
        )

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return t + self.body(torch.cat([t, y], dim=1))


class TakeLatent(nn.Module):
    """Merge for the finest layer: the decoded latent becomes the synthesis input."""

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y


class InjectState(nn.Module):
    """Merge for the finest layer with ``ModelConfig.inject``: ``y + P(t)``, the decoded latent
    plus a 1x1 projection of the top-down state, starting at zero (then it is :class:`TakeLatent`)."""

    def __init__(self, channels: int, latent_channels: int) -> None:
        super().__init__()
        self.proj = conv(channels, latent_channels, 1, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y + self.proj(t)

"""Differentiable entropy models used in training: they return bits, not likelihoods.

* :class:`FactorizedDensity` -- the per-channel non-parametric density of the top layer
  (Balle et al. 2018, "Variational image compression with a scale hyperprior", appendix 6.1).
* :func:`gaussian_bits` -- bits of a residual under a discretized zero-mean Gaussian.

Both evaluate the probability mass of a unit-width bin around each value, so with
additive uniform noise in training they estimate the rate of the rounded symbols.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

LIKELIHOOD_FLOOR = 1e-9
SCALE_MIN = 0.11  # smallest std (in symbol units) a Gaussian layer may use


def _bits(likelihood: torch.Tensor) -> torch.Tensor:
    return -torch.log2(likelihood.clamp_min(LIKELIHOOD_FLOOR))


def gaussian_bits(v: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Bits of each element of ``v`` under a unit-bin discretized N(0, scale).

    Args:
        v: residuals in symbol units (noisy or rounded), any shape.
        scale: standard deviations in symbol units, broadcastable to ``v``.
    Returns:
        bits, same shape as ``v``.
    """
    scale = scale.clamp_min(SCALE_MIN)
    v = v.abs()
    # Evaluate on the left tail for precision: P = Phi((0.5 - |v|)/s) - Phi((-0.5 - |v|)/s).
    upper = torch.special.ndtr((0.5 - v) / scale)
    lower = torch.special.ndtr((-0.5 - v) / scale)
    return _bits(upper - lower)


class FactorizedDensity(nn.Module):
    """Per-channel learned cumulative density (Balle et al. 2018).

    The CDF of each channel is ``sigmoid(f(v))`` with ``f`` a small monotone MLP
    (filters ``(1, 3, 3, 3, 1)``), so the mass of the bin ``[v - 0.5, v + 0.5]`` is
    a difference of two sigmoids.
    """

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0):
        super().__init__()
        self.channels = channels
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

    def logits_cdf(self, v: torch.Tensor) -> torch.Tensor:
        """v: (C, 1, n) -> logits of the CDF at v, (C, 1, n)."""
        logits = v
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            logits = torch.matmul(F.softplus(matrix.to(v.dtype)), logits) + bias.to(v.dtype)
            if i < len(self.factors):
                logits = logits + torch.tanh(self.factors[i].to(v.dtype)) * torch.tanh(logits)
        return logits

    def likelihood(self, v: torch.Tensor) -> torch.Tensor:
        """Mass of the unit bin around each element. v: (N, C, H, W) -> (N, C, H, W)."""
        N, C, H, W = v.shape
        flat = v.permute(1, 0, 2, 3).reshape(C, 1, -1)
        lower = self.logits_cdf(flat - 0.5)
        upper = self.logits_cdf(flat + 0.5)
        # Flip the sign where both logits are positive: differences of sigmoids near 1 lose precision.
        sign = -torch.sign(lower + upper).detach()
        mass = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        return mass.reshape(C, N, H, W).permute(1, 0, 2, 3)

    def bits(self, v: torch.Tensor) -> torch.Tensor:
        return _bits(self.likelihood(v))

    @torch.no_grad()
    def pmf_table(self, radius: int) -> torch.Tensor:
        """Mass of each integer in ``[-radius, radius]`` per channel, float64, (C, 2*radius+1).

        The tails beyond the range are folded into the edge bins, so each row sums to 1.
        """
        v = torch.arange(-radius, radius + 1, dtype=torch.float64)
        C = self.channels
        edges = torch.cat([v - 0.5, v[-1:] + 0.5]).expand(C, 1, -1)
        cdf = torch.sigmoid(self.logits_cdf(edges)).reshape(C, -1)
        pmf = cdf[:, 1:] - cdf[:, :-1]
        pmf[:, 0] += cdf[:, 0]
        pmf[:, -1] += 1 - cdf[:, -1]
        return pmf.clamp_min(0)

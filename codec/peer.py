"""CompressAI's mean-scale hyperprior (Minnen et al. 2018, ``mbt2018-mean``) as a
learned peer, trainable by ``codec train --arch mbt2018-mean`` with the same data,
steps and loss as our models, so the benchmark can compare architectures at equal
compute. Imports compressai, so it stays off the compress/decompress path.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .model import ForwardOutput

ARCH = "mbt2018-mean"


@dataclass(frozen=True)
class PeerConfig:
    """A single-lambda ``MeanScaleHyperprior(N, M)``; layers: z (hyper) then y."""

    N: int = 64
    M: int = 96
    lmbda: float = 0.0067
    name: str = ARCH
    arch: str = ARCH

    @property
    def num_layers(self) -> int:
        return 2

    @property
    def num_qualities(self) -> int:
        return 1

    @property
    def lambdas(self) -> tuple[float, ...]:
        return (self.lmbda,)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class PeerModel(nn.Module):
    """Wraps the CompressAI network so it trains with our loss: forward returns bits."""

    def __init__(self, config: PeerConfig):
        super().__init__()
        from compressai.models import MeanScaleHyperprior

        self.config = config
        self.net = MeanScaleHyperprior(config.N, config.M)

    def forward(self, x: torch.Tensor, quality: torch.Tensor) -> ForwardOutput:
        out = self.net(x)
        num_pixels = x.shape[2] * x.shape[3]
        with torch.autocast(x.device.type, enabled=False):
            bits = [-torch.log2(out["likelihoods"][k].float()).sum(dim=(1, 2, 3)) for k in ("z", "y")]
        return ForwardOutput(out["x_hat"], bits, [b / num_pixels for b in bits])

    def lmbda(self, quality: torch.Tensor) -> torch.Tensor:
        return torch.full_like(quality, self.config.lmbda)

    def aux_loss(self) -> torch.Tensor:
        return self.net.aux_loss()


def config_from_json(text: str):
    """ModelConfig or PeerConfig, by the ``arch`` field (absent: our hierarchical VAE)."""
    from .config import ModelConfig

    data = json.loads(text)
    if data.get("arch") == ARCH:
        return PeerConfig(**data)
    return ModelConfig.from_json(text)


def build_model(config) -> nn.Module:
    from .model import HierarchicalVAE

    return PeerModel(config) if isinstance(config, PeerConfig) else HierarchicalVAE(config)

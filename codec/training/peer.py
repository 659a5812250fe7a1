"""CompressAI's mean-scale hyperprior (Minnen et al. 2018, ``mbt2018-mean``) as a
learned peer, trainable by ``codec train --arch mbt2018-mean`` with the same data,
steps and loss as our models, so the benchmark can compare architectures at equal
compute. Imports compressai (only inside ``PeerModel``), so it stays off the compress/decompress path.

A trained peer ships as ``checkpoints/peers/<name>.safetensors`` (float32 weights, config and
training step in the metadata) with its sha256 in ``checkpoints/peers/MANIFEST.json``; it is
not a model of our codec, so ``codec.load`` never lists it. ``bench`` codes with it through
CompressAI's own ``compress``/``decompress``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..checkpoints import checkpoint_dir, parse_release, read_manifest, verified_release, write_release
from ..config import ModelConfig
from ..errors import CodecError
from ..model import ForwardOutput, HierarchicalVAE

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
    data = json.loads(text)
    if data.get("arch") == ARCH:
        return PeerConfig(**data)
    return ModelConfig.from_json(text)


def build_model(config) -> nn.Module:
    return PeerModel(config) if isinstance(config, PeerConfig) else HierarchicalVAE(config)


PEER_DIR = "peers"


def peer_dir(folder: Path | None = None) -> Path:
    return (folder or checkpoint_dir()) / PEER_DIR


def export_peer(model: PeerModel, name: str, step: int, folder: Path | None = None,
                description: str = "") -> Path:
    """Write ``peers/<name>.safetensors`` and its entry in ``peers/MANIFEST.json``."""
    # CompressAI's CDF buffers travel as they are (its load_state_dict wants them); update()
    # rebuilds them from the weights at load time anyway.
    metadata = {"config": model.config.to_json(), "step": str(step), "format": "hvc-peer-1"}
    return write_release(model.net.state_dict(), metadata, name, peer_dir(folder),
                         {"step": step, "description": description}, make_default=None)


def load_peer(name: str = ARCH, folder: Path | None = None) -> tuple[PeerModel, dict]:
    """A shipped peer, sha256-checked, with its entropy tables built -> (model, manifest entry)."""
    folder = peer_dir(folder)
    name, path, data = verified_release(name, folder, kind="peer")
    metadata, state = parse_release(data, path)
    try:
        config = PeerConfig(**json.loads(metadata["config"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CodecError(f"peer file {path} has no valid config ({type(e).__name__})") from None
    model = PeerModel(config)
    try:
        model.net.load_state_dict(state)
    except (KeyError, RuntimeError) as e:
        raise CodecError(f"peer file {path} does not fit {config}: {e}") from None
    model.net.update(force=True)
    return model.eval(), read_manifest(folder)["models"][name]

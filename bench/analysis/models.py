"""Which model an analysis looks at: a shipped release or a training checkpoint.

A training checkpoint is the ``torch.save`` dict written by ``python -m codec.training``
(``"config"``: ModelConfig JSON, ``"model"``: state dict, ``"step"``), loaded with
``weights_only=True`` so no pickle code runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from codec.checkpoints import load_release, read_training_state
from codec.config import ModelConfig
from codec.model import HierarchicalVAE


@dataclass(frozen=True)
class NamedModel:
    """A model in eval mode, float32, with where it came from.

    Attributes:
        name: release name, or the checkpoint path.
        model: the network (eval mode).
        step: training step of a checkpoint; None for a release.
    """

    name: str
    model: HierarchicalVAE
    step: int | None = None

    @property
    def label(self) -> str:
        """Short name for tables: the release name, or the run folder of a ``checkpoint.pt``."""
        path = Path(self.name)
        if path.suffix != ".pt":
            return self.name
        return path.parent.name if path.name == "checkpoint.pt" else f"{path.parent.name}/{path.stem}"


def load_checkpoint(path: Path | str) -> NamedModel:
    """A ``checkpoint.pt`` (or a snapshot of one) written by ``codec.training``."""
    path = Path(path)
    payload = read_training_state(path)
    config = ModelConfig.from_json(payload["config"])
    model = HierarchicalVAE(config)
    model.load_state_dict(payload["model"])
    return NamedModel(str(path), model.float().eval(), int(payload.get("step", 0)))


def load_model(spec: str | None = None) -> NamedModel:
    """``None`` or a release name -> the shipped model; a path to a ``.pt`` file -> that checkpoint;
    a run folder -> its ``checkpoint.pt``."""
    if spec is not None:
        path = Path(spec)
        if path.is_dir():
            path = path / "checkpoint.pt"
        if path.suffix == ".pt" or path.exists():
            return load_checkpoint(path)
    name, model = load_release(spec)
    return NamedModel(name, model.float().eval(), None)


def quality_tensor(quality: float, batch: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(batch,) tensor of a quality in [1, Q]."""
    return torch.full((batch,), float(quality), dtype=dtype)


def beta_of(model: HierarchicalVAE, quality: float) -> float:
    """The rate weight of the loss written as ``||x - x_hat||^2 + beta * KL_nats`` (x in [0, 1]).

    Training minimises ``lmbda 255^2 MSE + bpp`` per image, MSE over 3 H W values and bpp
    over H W pixels; multiplying by ``3 H W / (lmbda 255^2)`` gives that form with
    ``beta = 3 / (lmbda 255^2 ln 2)`` (bits = nats / ln 2).
    """
    lmbda = float(model.lmbda(quality_tensor(quality, 1, torch.float64))[0])
    return 3.0 / (lmbda * 255.0**2 * math.log(2.0))

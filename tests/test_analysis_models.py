"""bench.analysis.models: loading training checkpoints and releases; beta of a quality.

Also home of the tiny-model helpers the other ``test_analysis_*`` files import.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from bench.analysis.models import beta_of, load_checkpoint, load_model
from codec.model import HierarchicalVAE
from conftest import TINY


def lively_tiny(seed: int = 0) -> HierarchicalVAE:
    """The tiny random model with its encoder outputs scaled up, so latents differ between
    inputs by a few quantization steps. An untrained model's top latent varies by ~1e-4
    between images and rounds to one symbol, which leaves every decoder activation
    above the first merge constant and its similarity undefined."""
    torch.manual_seed(seed)
    model = HierarchicalVAE(TINY).eval()
    with torch.no_grad():
        model.g_a[-1].weight.mul_(200)
        model.down[0][-1].weight.mul_(200)
        model.down[-1][-1].weight.mul_(5000)
        model.down[-1][-1].bias.zero_()
    return model


def write_checkpoint(path: Path, model: HierarchicalVAE, step: int) -> Path:
    """A file in the format of ``codec.training`` (the fields the analyses read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": model.config.to_json(), "model": model.state_dict(), "step": step}, path)
    return path


def test_checkpoint_round_trip(tmp_path):
    model = lively_tiny(3)
    path = write_checkpoint(tmp_path / "run" / "checkpoint.pt", model, 42)
    for spec in (path, str(path), tmp_path / "run"):
        named = load_model(str(spec)) if not isinstance(spec, Path) or spec.is_dir() else load_checkpoint(spec)
        assert named.step == 42 and named.model.config == model.config
        for a, b in zip(named.model.state_dict().values(), model.state_dict().values()):
            assert torch.equal(a, b)


def test_release_loads_by_name(use_tiny_checkpoints):
    named = load_model(None)
    assert named.name == "tiny" and named.step is None


def test_beta_matches_the_training_objective():
    model = HierarchicalVAE(TINY)
    for q, lmbda in ((1.0, TINY.lambdas[0]), (8.0, TINY.lambdas[-1])):
        assert beta_of(model, q) == pytest.approx(3 / (lmbda * 255**2 * math.log(2)))

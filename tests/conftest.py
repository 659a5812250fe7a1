"""Shared fixtures: a tiny randomly initialised model and synthetic images.

The core suite needs neither ../shared nor a GPU; tests that use the shipped
checkpoint load it from checkpoints/ (part of the repository).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import codec
from codec.checkpoints import export_release
from codec.config import ModelConfig
from codec.model import HierarchicalVAE

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
TINY = ModelConfig(name="tiny", image_channels=8, channels=16, latent_channels=(4, 6, 8))


def natural_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth shapes plus mild noise: statistics closer to a photo than white noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    img = np.zeros((height, width, 3))
    for _ in range(6):
        cy, cx, r = rng.random(3)
        color = rng.random(3)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2) < (0.3 * r) ** 2
        img[mask] = color
    img += 0.3 * np.stack([np.sin(8 * xx + c) * np.cos(5 * yy) for c in range(3)], -1)
    img = 0.5 + 0.5 * (img - img.mean()) / (img.std() + 1e-9) * 0.35
    img += rng.normal(0, 0.02, img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def with_context(model: HierarchicalVAE) -> HierarchicalVAE:
    """Give a fresh checkerboard model a non-zero context (it starts as a no-op)."""
    import torch

    with torch.no_grad():
        generator = torch.Generator().manual_seed(1)
        for p in model.context[-1].parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=generator))
    return model


@pytest.fixture(scope="session", params=["none", "checkerboard"])
def tiny_codec(request) -> codec.Codec:
    """The tiny model, without and with a checkerboard context."""
    import torch
    from dataclasses import replace

    if request.param == "none":
        return codec.Codec.random(TINY, seed=0)
    torch.manual_seed(0)
    model = with_context(HierarchicalVAE(replace(TINY, context="checkerboard")))
    return codec.Codec.from_model(model)


@pytest.fixture(scope="session")
def shipped_codec() -> codec.Codec:
    return codec.load()


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> Path:
    """A checkpoints folder holding the tiny model as the default (for CLI tests)."""
    import torch

    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    export_release(HierarchicalVAE(TINY), "tiny", folder, half=False, make_default=True)
    return folder


@pytest.fixture()
def use_tiny_checkpoints(tiny_checkpoints, monkeypatch):
    monkeypatch.setenv("CODEC_CHECKPOINTS", str(tiny_checkpoints))
    codec._cached.cache_clear()
    yield tiny_checkpoints
    codec._cached.cache_clear()

import json

import pytest
import torch

from codec.config import ModelConfig
from codec.model import HierarchicalVAE

from conftest import TINY


def test_forward_returns_bits_per_layer_and_loss_is_one_line():
    torch.manual_seed(0)
    model = HierarchicalVAE(TINY)
    x = torch.rand(2, 3, 64, 128)
    quality = torch.tensor([1.0, 8.0])
    out = model(x, quality)
    assert out.x_hat.shape == x.shape
    assert len(out.bits) == len(out.bpp) == TINY.num_layers
    assert all(b.shape == (2,) and (b > 0).all() for b in out.bits)
    betas = (1.0, 0.5, 2.0)
    loss = (model.lmbda(quality) * 255**2 * (out.x_hat - x).square().mean((1, 2, 3))
            + sum(b * r for b, r in zip(betas, out.bpp))).mean()
    loss.backward()
    assert model.log_steps[0].grad is not None


def test_higher_quality_means_smaller_steps():
    model = HierarchicalVAE(TINY)
    q = torch.tensor([1.0, 2.5, 8.0])
    steps = model.log_step(1, q).exp().mean(dim=(1, 2, 3))
    assert steps[0] > steps[1] > steps[2]
    lam = model.lmbda(q)
    assert torch.allclose(lam[[0, 2]], torch.tensor([TINY.lambdas[0], TINY.lambdas[-1]]))


def test_config_json_round_trip():
    cfg = ModelConfig(latent_channels=(2, 3), lambdas=(0.01,))
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    assert cfg.strides == (32, 16)


def test_configs_written_before_contexts_existed_still_load():
    """Release metadata of models made before contexts existed has no context field."""
    old = ModelConfig(latent_channels=(2, 3), lambdas=(0.01,))
    written_then = json.dumps({k: v for k, v in json.loads(old.to_json()).items() if k != "context"})
    assert ModelConfig.from_json(written_then) == old and old.context == "none"
    new = ModelConfig(latent_channels=(2, 3), lambdas=(0.01,), context="checkerboard")
    assert ModelConfig.from_json(new.to_json()) == new and "checkerboard" in repr(new)
    with pytest.raises(ValueError, match="context must be one of"):
        ModelConfig(context="autoregressive")

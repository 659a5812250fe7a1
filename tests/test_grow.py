"""Growing the latent layers of a trained model: same decoded image, wider latents, and
``codec train --init-from`` starting a run from it."""
import json

import pytest
import torch

from codec.config import ModelConfig
from codec.training.grow import check, grow
from codec.model import HierarchicalVAE
from codec.training.trainer import main as train_main

from conftest import natural_image
from test_train import PEER_ARGS, TINY_ARGS, folder, _state  # noqa: F401  (fixture)

TINY = ModelConfig(image_channels=8, channels=16, latent_channels=(4, 6, 8))


def _images(n=2, size=64):
    arrays = [natural_image(size, size, seed=i) for i in range(n)]
    return torch.stack([torch.from_numpy(a).permute(2, 0, 1).float() / 255 for a in arrays])


def _trained_like(seed=0):
    """A random tiny model with non-trivial steps and priors (as after training)."""
    torch.manual_seed(seed)
    model = HierarchicalVAE(TINY)
    with torch.no_grad():
        for table in model.log_steps:
            table.add_(0.3 * torch.randn_like(table))
    return model.eval()


def _base_run(folder, tmp_path, steps=1):
    """A tiny trained run to start others from (--init-from its checkpoint.pt)."""
    base = tmp_path / "base"
    assert train_main([str(folder), "--out", str(base), "--steps", str(steps), *TINY_ARGS]) == 0
    return base


def _forward(model, x, quality):
    with torch.no_grad():
        return model(x, torch.full((x.shape[0],), quality))


@pytest.mark.parametrize("widths", [(4, 6, 12), (5, 9, 12), (7, 6, 8)])
def test_grown_model_decodes_the_same_image(widths, monkeypatch):
    monkeypatch.setattr("codec.model.uniform_noise", lambda v: v)  # rates without noise: comparable
    source, x = _trained_like(), _images()
    grown = grow(source, widths, images=x).eval()
    assert grown.config.latent_channels == widths
    assert grown.config.lambdas == source.config.lambdas
    for quality in (1.0, 4.5, 8.0):
        a, b = _forward(source, x, quality), _forward(grown, x, quality)
        torch.testing.assert_close(b.x_hat, a.x_hat, atol=1e-5, rtol=0)
        for k, (m, M) in enumerate(zip(TINY.latent_channels, widths)):
            if m == M:
                torch.testing.assert_close(b.bits[k], a.bits[k])  # an untouched layer codes the same
            else:
                assert (b.bits[k] > a.bits[k]).all()  # new channels add rate; the old ones code the same


def test_new_channels_carry_signal_and_start_at_their_spread():
    source, x = _trained_like(), _images()
    grown = grow(source, (4, 6, 16), images=x)
    with torch.no_grad():
        feats = grown.bottom_up(x)
    new = feats[2][:, 8:]
    assert new.std(dim=(0, 2, 3)).min() > 0  # not a dead start: they vary with the image
    raw_scale = grown.prior[1][-1].bias[16 + 8:]
    torch.testing.assert_close(torch.nn.functional.softplus(raw_scale), new.std(dim=(0, 2, 3)).clamp_min(1e-3),
                               atol=1e-4, rtol=1e-4)
    # quantization steps of the new channels: the old channels' median at every quality
    table = source.log_steps[1]
    torch.testing.assert_close(grown.log_steps[1][:, 8:], table.median(dim=1, keepdim=True).values.expand(-1, 8))


def test_only_latent_and_image_channels_grow():
    source = _trained_like()
    with pytest.raises(ValueError, match="only grow"):
        grow(source, (4, 6, 7))
    other = HierarchicalVAE(ModelConfig(image_channels=8, channels=16, latent_channels=(4, 6)))
    with pytest.raises(ValueError, match="only latent and image channels"):
        grow(other, (4, 6, 8))


def test_train_init_from_grows_and_starts_a_new_run(folder, tmp_path):  # noqa: F811
    base = _base_run(folder, tmp_path, steps=2)
    wide = tmp_path / "wide"
    assert train_main([str(folder), "--out", str(wide), "--steps", "2", *TINY_ARGS,
                       "--init-from", str(base / "checkpoint.pt"), "--latent-channels", "4,6,12"]) == 0
    ckpt = _state(wide)
    assert ckpt["step"] == 2
    assert json.loads(ckpt["config"])["latent_channels"] == [4, 6, 12]
    assert ckpt["model"]["g_a.6.weight"].shape[0] == 12
    # the widths of the source are the default; a narrower one is refused in one line
    with pytest.raises(SystemExit, match="cannot grow"):
        train_main([str(folder), "--out", str(tmp_path / "narrow"), "--steps", "1", *TINY_ARGS,
                    "--init-from", str(base / "checkpoint.pt"), "--latent-channels", "4,6,6"])


def test_train_init_from_bad_paths_are_input_errors(folder, tmp_path, capsys):  # noqa: F811
    assert train_main([str(folder), "--out", str(tmp_path / "r"), "--steps", "1", *TINY_ARGS,
                       "--init-from", str(tmp_path / "missing.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="not a training checkpoint") as e:
        train_main([str(folder), "--out", str(tmp_path / "r2"), "--steps", "1", *TINY_ARGS,
                    "--init-from", str(junk)])
    assert "\n" not in str(e.value)


def test_grown_channels_pay_their_rate_gradually(folder, tmp_path):  # noqa: F811
    from codec.training.trainer import Trainer, build_parser

    base = _base_run(folder, tmp_path)
    args = build_parser().parse_args([str(folder), "--out", str(tmp_path / "w"), *TINY_ARGS, "--init-from",
                                      str(base / "checkpoint.pt"), "--latent-channels", "4,6,12",
                                      "--grow-warmup", "10"])
    trainer = Trainer(args)
    assert trainer.grown_from == [4, 6, 8]
    x = _images(2, 64)
    out = trainer.model(x, torch.full((2,), 8.0))
    old = out.channel_bits[2][:, :8].sum(1) / 64**2
    for step, w in ((0, 0.0), (5, 0.5), (10, 1.0)):
        trainer.step = step
        weighted = trainer.weighted_bpp(out, x)
        torch.testing.assert_close(weighted[2], old + w * (out.bpp[2] - old))
        torch.testing.assert_close(weighted[1], out.bpp[1])
    # the ramp survives a resume: the checkpoint records where the new channels start
    trainer.save()
    assert _state(tmp_path / "w")["grown_from"] == [4, 6, 8]


def test_train_init_from_refusals_are_one_line(folder, tmp_path):  # noqa: F811
    base = _base_run(folder, tmp_path)
    ckpt = str(base / "checkpoint.pt")
    refusals = {
        "strictly increasing": ["--lmbda", "0.02,0.01"],
        "can only grow": ["--image-channels", "6"],
        "only latent and image channels": ["--channels", "24"],
        "comma-separated integers": ["--latent-channels", "4,six,8"],
        "cannot grow": ["--latent-channels", "4,6,8,8"],
    }
    for i, (message, extra) in enumerate(refusals.items()):
        with pytest.raises(SystemExit) as e:
            train_main([str(folder), "--out", str(tmp_path / f"r{i}"), "--steps", "1", *TINY_ARGS,
                        "--init-from", ckpt, *extra])
        assert message in str(e.value) and "\n" not in str(e.value)
    peer = tmp_path / "peer"
    assert train_main([str(folder), "--out", str(peer), "--steps", "1", "--arch", "mbt2018-mean",
                       "--peer-n", "8", "--peer-m", "12", "--lmbda", "0.01", *PEER_ARGS]) == 0
    with pytest.raises(SystemExit, match="not the peer"):
        train_main([str(folder), "--out", str(tmp_path / "rp"), "--steps", "1", *TINY_ARGS,
                    "--init-from", str(peer / "checkpoint.pt")])


def _assert_same_image_and_rate(source, model, x):
    """``model`` decodes ``x`` to the same image at the same rates as ``source`` (the same noise)."""
    for quality in (1.0, 4.5):
        torch.manual_seed(0)
        a = _forward(source, x, quality)
        torch.manual_seed(0)
        b = _forward(model, x, quality)
        torch.testing.assert_close(b.x_hat, a.x_hat, rtol=0, atol=0)
        for ra, rb in zip(a.bits, b.bits):
            torch.testing.assert_close(rb, ra, rtol=0, atol=0)


def test_adding_a_context_changes_neither_rate_nor_image():
    source = _trained_like()
    model = grow(source, TINY.latent_channels, context="checkerboard").eval()
    assert model.config.context == "checkerboard" and model.context is not None
    x = _images(2, 64)
    _assert_same_image_and_rate(source, model, x)
    # ... but training reaches it: the zero layer gets a gradient from the rate
    model.train()
    out = model(x, torch.full((2,), 3.0))
    sum(b.sum() for b in out.bpp).backward()
    assert model.context[-1].weight.grad.abs().sum() > 0
    # a context is added, never removed
    with pytest.raises(ValueError, match="can be added"):
        grow(model, TINY.latent_channels, context="none")


def test_train_init_from_adds_a_context(folder, tmp_path):  # noqa: F811
    base = _base_run(folder, tmp_path)
    run = tmp_path / "ctx"
    assert train_main([str(folder), "--out", str(run), "--steps", "2", *TINY_ARGS,
                       "--init-from", str(base / "checkpoint.pt"), "--context", "checkerboard"]) == 0
    ckpt = _state(run)
    assert json.loads(ckpt["config"])["context"] == "checkerboard"
    assert any(name.startswith("context.") for name in ckpt["model"])
    with pytest.raises(SystemExit, match="differs from the run"):
        train_main([str(folder), "--out", str(run), "--steps", "3", *TINY_ARGS, "--resume", "--context", "none"])
    assert train_main([str(folder), "--out", str(run), "--steps", "3", *TINY_ARGS, "--resume"]) == 0
    assert _state(run)["step"] == 3


def test_the_context_learns_at_its_own_rate(folder, tmp_path):  # noqa: F811
    from codec.training.trainer import Trainer, build_parser

    base = _base_run(folder, tmp_path)
    args = build_parser().parse_args([str(folder), "--out", str(tmp_path / "c"), *TINY_ARGS, "--init-from",
                                      str(base / "checkpoint.pt"), "--context", "checkerboard",
                                      "--context-lr-scale", "5", "--steps", "4", "--warmup", "0"])
    trainer = Trainer(args)
    trainer.train_step()
    main_group, context_group = trainer.optimizer.param_groups
    assert context_group["lr"] == pytest.approx(5 * main_group["lr"])
    assert context_group["params"][-1] is trainer.model.context[-1].bias


@pytest.mark.parametrize("widths", [(4, 6, 8), (4, 6, 12)])
def test_widened_transforms_decode_the_same_image(widths, monkeypatch):
    monkeypatch.setattr("codec.model.uniform_noise", lambda v: v)
    source, x = _trained_like(), _images()
    grown = grow(source, widths, images=x, image_channels=13).eval()
    assert grown.config.image_channels == 13 and grown.config.latent_channels == widths
    assert grown.g_a[0].weight.shape[0] == 13 and grown.g_s[-1].weight.shape[0] == 13
    for quality in (1.0, 8.0):
        a, b = _forward(source, x, quality), _forward(grown, x, quality)
        torch.testing.assert_close(b.x_hat, a.x_hat, atol=1e-5, rtol=0)
        torch.testing.assert_close(b.bits[:2], a.bits[:2])
        if widths == TINY.latent_channels:
            torch.testing.assert_close(b.bits[2], a.bits[2])
    # the new hidden channels carry signal from the start (not a dead point) ...
    hidden = grown.g_a[:2](x)
    assert hidden[:, 8:].std(dim=(0, 2, 3)).min() > 0
    # ... and training reaches the zero columns that keep them out of the old channels
    grown.train()
    out = grown(x, torch.full((2,), 3.0))
    (out.x_hat - x).square().mean().backward()
    assert grown.g_a[2].weight.grad[:8, 8:].abs().sum() > 0
    assert grown.g_s[-1].weight.grad[8:].abs().sum() > 0
    with pytest.raises(ValueError, match="can only grow"):
        grow(source, TINY.latent_channels, image_channels=6)


def test_train_init_from_widens_the_transforms_and_adds_quality_anchors(folder, tmp_path):  # noqa: F811
    from codec.training.trainer import Trainer, build_parser

    base = _base_run(folder, tmp_path)
    source = _state(base)
    lambdas = "0.0004,0.0009,0.0018,0.0035,0.0067,0.013,0.025,0.0483,0.0932,0.18"
    args = [str(folder), "--out", str(tmp_path / "w"), *TINY_ARGS, "--init-from", str(base / "checkpoint.pt"),
            "--image-channels", "12", "--lmbda", lambdas, "--steps", "1"]
    trainer = Trainer(build_parser().parse_args(args))
    assert trainer.config.image_channels == 12 and trainer.config.num_qualities == 10
    assert trainer.config.default_quality == 6.0  # lambda 0.013 is the 6th anchor now
    # the old anchors keep their steps; the new ones continue the high-rate slope below
    for name in ("log_steps.0", "log_steps.1"):
        old, new = source["model"][name], trainer.model.state_dict()[name]
        torch.testing.assert_close(new[2:], old)
        torch.testing.assert_close(new[1], old[0] - 0.5 * torch.log(torch.tensor(0.0009 / 0.0018)))
    assert trainer.model.g_a[0].weight.shape[0] == 12
    assert train_main(args[:2] + [str(tmp_path / "w2")] + args[3:]) == 0


def test_train_init_from_a_release_file_or_an_installed_model(folder, tmp_path, use_tiny_checkpoints):  # noqa: F811
    from codec.checkpoints import checkpoint_dir, load_release

    name, release = load_release("tiny")
    for source in ("tiny", str(checkpoint_dir() / "tiny.safetensors")):
        out = tmp_path / f"from-{len(source)}"
        args = [str(folder), "--out", str(out), "--steps", "1", *TINY_ARGS, "--init-from", source, "--lr", "1e-30"]
        assert train_main(args) == 0
        weights = _state(out)["model"]
        for key, value in release.state_dict().items():  # Adam moves each weight by about lr: 1e-30 is below float32's resolution
            torch.testing.assert_close(weights[key], value)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(SystemExit, match="not a release of this codec") as e:
        train_main([str(folder), "--out", str(tmp_path / "j"), "--steps", "1", *TINY_ARGS, "--init-from", str(junk)])
    assert "\n" not in str(e.value)


def test_adding_the_state_injection_changes_neither_rate_nor_image_and_it_learns():
    """ModelConfig.inject: x̂ = g_s(ŷ + P(t)) with P at zero at first, so it grows a trained model."""
    source = _trained_like()
    model = grow(source, TINY.latent_channels, inject=True).eval()
    assert model.config.inject and model.merge[-1].proj.weight.abs().sum() == 0
    x = _images(2, 64)
    _assert_same_image_and_rate(source, model, x)
    model.train()
    out = model(x, torch.full((2,), 3.0))
    (out.x_hat - x).square().mean().backward()
    assert model.merge[-1].proj.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="can be added, not removed"):
        check(model.config, source.config)


def test_prefix_decodes_in_training_set_the_lower_layers_to_their_prior_means():
    """forward(prefix_layers=k): the k-layer progressive decode, as the codec decodes a prefix."""
    model = _trained_like().eval()
    with torch.no_grad():
        model.g_a[-1].weight.mul_(50)  # latents well beyond their quantization steps
    x = _images(2, 64)
    q = torch.full((2,), 3.0)
    with torch.no_grad():
        full = model(x, q, prefix_layers=TINY.num_layers)
        assert torch.equal(full.x_hat_prefix, full.x_hat)  # every layer kept: the full decode
        one = model(x, q, prefix_layers=1)
        assert not torch.allclose(one.x_hat_prefix, one.x_hat)
        assert torch.equal(one.x_hat, full.x_hat)  # the full decode is unchanged (the rates are noisy)


def test_train_with_injection_and_prefix_distortion(folder, tmp_path):  # noqa: F811
    base = _base_run(folder, tmp_path)
    run = tmp_path / "inj"
    assert train_main([str(folder), "--out", str(run), "--steps", "3", *TINY_ARGS, "--init-from",
                       str(base / "checkpoint.pt"), "--inject", "--prefix-weight", "0.1"]) == 0
    ckpt = _state(run)
    assert json.loads(ckpt["config"])["inject"] is True
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    prefix = [r["prefix_psnr_db"] for r in records if "prefix_psnr_db" in r]
    assert len(prefix) == 3 and all(set(p) <= {"1", "2"} and all(5 < v < 60 for v in p.values()) for p in prefix)
    with pytest.raises(SystemExit, match="differs from the run"):
        train_main([str(folder), "--out", str(run), "--steps", "4", *TINY_ARGS, "--resume",
                    "--latent-channels", "4,6,9"])
    assert train_main([str(folder), "--out", str(run), "--steps", "4", *TINY_ARGS, "--resume",
                       "--prefix-weight", "0.1"]) == 0

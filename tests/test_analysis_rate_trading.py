"""bench.analysis.rate_trading (train, evaluate): commands, caching, resuming, parsing, evaluation."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.analysis import cli
from bench.analysis.rate_trading import evaluate as rate_evaluation
from bench.analysis.rate_trading.evaluate import evaluate_point, rate_pairs
from bench.analysis.rate_trading.train import (TrainSettings, betas_slug, default_grid, last_log, parse_grid,
                                         segment_targets, train_command, train_point)
from conftest import natural_image
from test_analysis_models import lively_tiny, write_checkpoint


def test_grids():
    grid = default_grid(3)
    assert len(grid) == 9 and (0.5, 0.5, 2.0) in grid and all(g[0] == g[1] for g in grid)
    assert parse_grid("1,1,1; 0.5,0.5,2", 3) == [(1.0, 1.0, 1.0), (0.5, 0.5, 2.0)]
    for bad in ("1,1", "1,1,0", ""):
        with pytest.raises(ValueError):
            parse_grid(bad, 3)
    assert betas_slug((0.5, 1, 2)) == "b0.5_1_2"


def test_training_runs_start_in_the_repository_with_an_absolute_train_folder(tmp_path, monkeypatch):
    """The subprocess runs in the repository root, so a relative --train is resolved first."""
    import argparse

    from bench.analysis import rate_trading
    from bench.analysis.rate_trading import train

    assert (train.REPO / "pyproject.toml").exists()
    parser = argparse.ArgumentParser()
    rate_trading.add_arguments(parser)
    monkeypatch.chdir(tmp_path)
    settings = rate_trading.settings_from(parser.parse_args(["--train", "imgs", "--inject"]))
    assert settings.train_folder == str(tmp_path / "imgs") and settings.inject


def test_train_command():
    s = TrainSettings("data/train", steps=300, lmbda=0.013, latent_channels=(8, 12, 24))
    cmd = train_command(s, (0.5, 0.5, 2), Path("runs/x"), 300, resume=False, python="py")
    assert cmd[:5] == ["py", "-m", "codec.training", "data/train", "--out"]
    line = " ".join(cmd)
    for part in ("--steps 300", "--crop 64", "--lmbda 0.013", "--beta 0.5,0.5,2", "--channels 32",
                 "--image-channels 24", "--latent-channels 8,12,24", "--threads 1", "--no-progress"):
        assert part in line
    assert "--resume" not in cmd and "--min-lr-ratio" not in cmd
    snap = TrainSettings("d", steps=100, snapshots=3)
    assert segment_targets(snap) == [33, 67, 100]
    cmd = train_command(snap, (1, 1, 1), Path("o"), 67, resume=True)
    assert cmd[-1] == "--resume" and "--min-lr-ratio" in cmd
    assert TrainSettings("d").slug() != TrainSettings("d", steps=401).slug()
    assert "--inject" not in cmd and "--prefix-weight" not in cmd
    variant = TrainSettings("d", inject=True, prefix_weight=0.25)  # Xiao & Bamler's image path
    line = " ".join(train_command(variant, (1, 1, 1), Path("o"), 10, resume=False))
    assert "--inject" in line and "--prefix-weight 0.25" in line
    assert len({TrainSettings("d").slug(), TrainSettings("d", inject=True).slug(), variant.slug()}) == 3


class FakeTrainer:
    """Stands in for ``python -m codec.training``: writes a checkpoint at the requested step."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, cmd: list[str], env: dict) -> int:
        self.calls.append(cmd)
        out = Path(cmd[cmd.index("--out") + 1])
        step = int(cmd[cmd.index("--steps") + 1])
        if "--resume" in cmd:
            assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] < step
        write_checkpoint(out / "checkpoint.pt", lively_tiny(0), step)
        with open(out / "log.jsonl", "a") as f:
            f.write(json.dumps({"step": step, "loss": 1.0, "bpp": [0.1, 0.2, 0.3], "psnr_db": 20.0}) + "\n")
        return 0


def test_train_point_is_cached_and_resumable(tmp_path):
    fake = FakeTrainer()
    s = TrainSettings("d", steps=20)
    point = train_point(s, (1, 1, 2), tmp_path, runner=fake)
    assert len(fake.calls) == 1 and point.trained_now == 1 and point.checkpoint.exists()
    point = train_point(s, (1, 1, 2), tmp_path, runner=fake)  # cached: nothing runs
    assert len(fake.calls) == 1 and point.trained_now == 0
    write_checkpoint(point.checkpoint, lively_tiny(0), 7)       # an interrupted run resumes
    train_point(s, (1, 1, 2), tmp_path, runner=fake)
    assert len(fake.calls) == 2 and fake.calls[-1][-1] == "--resume"
    assert last_log(point.folder)["step"] == 20

    snaps = TrainSettings("d", steps=20, snapshots=2)
    point = train_point(snaps, (1, 1, 1), tmp_path, runner=fake)
    assert [c[c.index("--steps") + 1] for c in fake.calls[2:]] == ["10", "20"]
    assert [p.name for p in point.snapshots] == ["step_000010.pt", "step_000020.pt"]
    assert torch.load(point.snapshots[0], weights_only=True)["step"] == 10


def test_evaluate_point_and_its_cache(tmp_path, monkeypatch):
    point = train_point(TrainSettings("d", steps=5), (1, 1, 1), tmp_path, runner=FakeTrainer())
    x = torch.from_numpy(np.stack([natural_image(64, 64, seed=s) for s in range(2)])).permute(0, 3, 1, 2) / 255.0
    result = evaluate_point(point, x.float(), quality=4.0)
    assert result.step == 5 and len(result.layer_bpp) == 3
    assert result.bpp == pytest.approx(sum(result.layer_bpp))
    assert result.progressive_psnr_db[-1] == result.psnr_db
    assert rate_pairs(result) == pytest.approx((sum(result.layer_bpp[:2]), result.layer_bpp[2]))
    monkeypatch.setattr(rate_evaluation, "evaluate_model", lambda *a: pytest.fail("cache missed"))
    assert evaluate_point(point, x.float(), quality=4.0) == result


def test_two_real_training_runs_through_the_cli(tmp_path):
    """2 grid points x 8 steps of a tiny model on synthetic images, through ``codec.training``."""
    data = tmp_path / "train"
    data.mkdir()
    for s in range(3):
        Image.fromarray(natural_image(80, 96, seed=s)).save(data / f"im{s}.png")
    argv = ["rate-trading", "--train", str(data), "--grid", "1,1,1;1,1,4", "--steps", "8", "--crop", "64",
            "--batch", "2", "--channels", "16", "--image-channels", "8", "--latent-channels", "4,6,8",
            "--warmup", "2", "--runs", str(tmp_path / "runs"), "--eval-dataset", str(data),
            "--eval-limit", "2", "--eval-crop", "64", "--out", str(tmp_path / "out"), "--no-plots"]
    assert cli.main(argv) == 0
    result = json.loads((tmp_path / "out" / "rate_trading.json").read_text())
    assert [p["betas"] for p in result["points"]] == [[1, 1, 1], [1, 1, 4]]
    for p in result["points"]:
        assert p["step"] == 8 and len(p["layer_bpp"]) == 3 and p["train_log"]["step"] == 8
    assert cli.main(argv) == 0  # second time: everything cached


def test_compare_puts_variants_side_by_side(tmp_path, capsys):
    from bench.analysis.cli import main

    def point(upper_beta, layer_bpp, psnr, prefix):
        return {"betas": [upper_beta, upper_beta, 1.0], "layer_bpp": layer_bpp, "bpp": sum(layer_bpp),
                "psnr_db": psnr, "progressive_psnr_db": prefix + [psnr]}
    for label, shift in (("a", 0.0), ("b", 1.0)):
        folder = tmp_path / label
        folder.mkdir()
        points = [point(1.0, [0.001, 0.002, 0.2], 23.0, [15.0 + shift, 16.0 + shift]),
                  point(0.1, [0.001, 0.02, 0.19], 23.1, [15.5 + shift, 18.0 + shift])]
        (folder / "rate_trading.json").write_text(json.dumps({"points": points}))
    out = tmp_path / "out"
    assert main(["rate-trading", "--compare", f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}", "--out", str(out)]) == 0
    table = (out / "variants.md").read_text().splitlines()
    assert table[0].startswith("| variant | betas | layer 1 bpp") and len(table) == 2 + 4
    assert "| b | 0.1,0.1,1 | 0.0010 | 0.0200 | 0.1900 | 0.2110 | 23.10 | 16.50 | 19.00 |" in table
    assert (out / "variants.png").stat().st_size > 0
    assert main(["rate-trading", "--compare", "nolabel", "--out", str(out)]) == 2
    assert main(["rate-trading", "--compare", f"c={tmp_path / 'missing'}", "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err

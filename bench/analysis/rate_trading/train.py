"""The ``rate-trading`` driver: train one small model per per-layer beta vector.

Xiao & Bamler (ICLR 2023, "Trading information between latents in hierarchical VAEs")
weight each layer's rate with its own beta_k in ``lmbda 255^2 MSE + sum_k beta_k bpp_k``;
changing the betas moves information between layers at a similar total rate. This module
builds and runs ``python -m codec.training`` for a grid of beta vectors, one run folder per
point under ``<runs>/<settings slug>/<betas slug>/``, resumable and cached:

* a point whose ``checkpoint.pt`` has reached the target step is not trained again;
* an interrupted point resumes (``--resume``);
* with ``snapshots = S > 0`` a run is trained in S equal segments, each copied to
  ``snapshots/step_XXXXXX.pt`` (input of the similarity analysis). Segments use a constant
  learning rate after warm-up (``--min-lr-ratio 1``), so S segments train exactly like one
  run: the optimizer, data sampler and RNG are restored on ``--resume``.

Evaluation is in :mod:`.rate_evaluation`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from bench.datasets import REPO
from codec.checkpoints import read_training_state


class TrainingFailed(RuntimeError):
    """A ``codec.training`` subprocess exited with an error."""


# (command, environment) -> return code; subprocess by default, a fake in tests.
Runner = Callable[[list[str], dict], int]


@dataclass(frozen=True)
class TrainSettings:
    """Everything but the betas that defines a grid point's training run."""

    train_folder: str
    steps: int = 2000
    crop: int = 64
    batch: int = 8
    lmbda: float = 0.0067
    channels: int = 32
    image_channels: int = 24
    latent_channels: tuple[int, ...] = (8, 12, 24)
    lr: float = 1e-3
    warmup: int = 100
    seed: int = 0
    threads: int = 1
    snapshots: int = 0
    inject: bool = False  # the upper layers also feed the synthesis (ModelConfig.inject)
    prefix_weight: float = 0.0  # weight of a k-layer prefix decode's distortion (codec train --prefix-weight)

    @property
    def num_layers(self) -> int:
        return len(self.latent_channels)

    def slug(self) -> str:
        """Folder name: readable head plus a hash of every setting."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        return f"s{self.steps}-c{self.crop}-l{self.lmbda:g}-{digest}"


def betas_slug(betas: Sequence[float]) -> str:
    return "b" + "_".join(f"{b:g}" for b in betas)


def parse_grid(text: str, num_layers: int) -> list[tuple[float, ...]]:
    """``"1,1,1;0.5,0.5,2"`` -> [(1, 1, 1), (0.5, 0.5, 2)]; each point needs one beta per layer."""
    grid = []
    for item in text.replace(" ", "").split(";"):
        if not item:
            continue
        betas = tuple(float(v) for v in item.split(","))
        if len(betas) != num_layers or any(b <= 0 for b in betas):
            raise ValueError(f"grid point {item!r} needs {num_layers} positive betas, top first")
        grid.append(betas)
    if not grid:
        raise ValueError("empty grid")
    return grid


def default_grid(num_layers: int = 3, values: Sequence[float] = (0.5, 1.0, 2.0)) -> list[tuple[float, ...]]:
    """Upper layers share one beta, the bottom layer another: ``len(values)^2`` points."""
    return [(upper,) * (num_layers - 1) + (bottom,) for upper, bottom in itertools.product(values, values)]


def segment_targets(settings: TrainSettings) -> list[int]:
    """Step counts at which a run stops (and is snapshotted): [steps] or S equal segments."""
    S = max(1, settings.snapshots)
    return sorted({max(1, round(settings.steps * (i + 1) / S)) for i in range(S)})


def train_command(settings: TrainSettings, betas: Sequence[float], out: Path, steps: int,
                  resume: bool, python: str = sys.executable) -> list[str]:
    """The ``python -m codec.training`` command line of one segment of one grid point."""
    cmd = [python, "-m", "codec.training", settings.train_folder, "--out", str(out),
           "--steps", str(steps), "--crop", str(settings.crop), "--batch", str(settings.batch),
           "--lmbda", f"{settings.lmbda:g}", "--beta", ",".join(f"{b:g}" for b in betas),
           "--channels", str(settings.channels), "--image-channels", str(settings.image_channels),
           "--latent-channels", ",".join(map(str, settings.latent_channels)),
           "--lr", f"{settings.lr:g}", "--warmup", str(settings.warmup), "--seed", str(settings.seed),
           "--threads", str(settings.threads), "--name", betas_slug(betas),
           "--val-every", str(10**9), "--log-every", str(max(1, min(50, settings.steps // 4))),
           "--no-progress"]
    if settings.inject:
        cmd.append("--inject")
    if settings.prefix_weight:
        cmd += ["--prefix-weight", f"{settings.prefix_weight:g}"]
    if settings.snapshots:
        cmd += ["--min-lr-ratio", "1"]
    if resume:
        cmd.append("--resume")
    return cmd


def subprocess_runner(cmd: list[str], env: dict) -> int:
    return subprocess.run(cmd, cwd=REPO, env=env).returncode


def checkpoint_step(path: Path) -> int | None:
    """Training step stored in a checkpoint, None if there is none."""
    if not path.exists():
        return None
    return int(read_training_state(path).get("step", 0))


@dataclass(frozen=True)
class TrainedPoint:
    """One grid point's run folder after training.

    Attributes:
        trained_now: segments this call trained (0 when everything was cached).
    """

    betas: tuple[float, ...]
    folder: Path
    checkpoint: Path
    snapshots: tuple[Path, ...]
    trained_now: int


def train_point(settings: TrainSettings, betas: Sequence[float], root: Path,
                runner: Runner = subprocess_runner, log=None) -> TrainedPoint:
    """Train (or resume, or skip) one grid point under ``root``."""
    folder = root / betas_slug(betas)
    ckpt = folder / "checkpoint.pt"
    snap_dir = folder / "snapshots"
    env = {**os.environ, "OMP_NUM_THREADS": str(settings.threads)}
    trained = 0
    for target in segment_targets(settings):
        snap = snap_dir / f"step_{target:06d}.pt"
        step = checkpoint_step(ckpt)
        if step is not None and step >= target:
            continue
        cmd = train_command(settings, betas, folder, target, resume=step is not None)
        if log:
            log(" ".join(cmd))
        code = runner(cmd, env)
        if code != 0:
            raise TrainingFailed(f"training {betas_slug(betas)} failed with exit code {code}: {' '.join(cmd)}")
        trained += 1
        if settings.snapshots:
            snap_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ckpt, snap)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(json.dumps(
        {"settings": dataclasses.asdict(settings), "betas": list(betas)}, indent=2) + "\n")
    snaps = tuple(sorted(snap_dir.glob("step_*.pt"))) if snap_dir.exists() else ()
    return TrainedPoint(tuple(betas), folder, ckpt, snaps, trained)


def last_log(folder: Path) -> dict:
    """The last training record of ``log.jsonl`` (loss, per-layer bpp, psnr_db), {} if none."""
    path = folder / "log.jsonl"
    if not path.exists():
        return {}
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    records = [r for r in records if "loss" in r]
    return records[-1] if records else {}

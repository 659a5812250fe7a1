"""What a run is: its model config, betas and starting weights, resolved from the flags.

Five ways in: resume our run, resume a peer run, a new peer run, a new run grown from
another model (``--init-from``), a new run from scratch. Every refusal is one line.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import load_release, read_manifest, read_release, read_training_state
from ..config import DEFAULT_LAMBDAS, ModelConfig
from ..errors import CodecError
from ..model import HierarchicalVAE
from .flags import check_peer_shape, check_resume_shape, shape_options, shaped
from .grow import check
from .peer import ARCH as PEER_ARCH
from .peer import PeerConfig, config_from_json


@dataclass
class RunPlan:
    """config: ModelConfig or PeerConfig; resume: the run's own checkpoint (or None);
    source: the --init-from model (or None); betas: per-layer rate weights."""

    config: object
    betas: tuple[float, ...]
    resume: dict | None = None
    source: HierarchicalVAE | None = None


def plan_run(args, ckpt_path: Path, main: bool) -> RunPlan:
    if args.resume and not ckpt_path.exists():
        raise FileNotFoundError(f"nothing to resume: {ckpt_path} does not exist")
    if args.resume and args.init_from is not None:
        raise SystemExit("error: --resume continues the run in --out, --init-from starts a new one; "
                         "pass one of them")
    if not args.resume and main and ckpt_path.exists():
        raise SystemExit(f"error: {ckpt_path} exists; pass --resume or another --out")
    resume = source = None
    if args.resume:
        resume = read_resume(ckpt_path)
        if main:
            print(f"resuming {ckpt_path} at step {resume['step']}", file=sys.stderr)
        config = resumed_config(args, resume, main)
    elif args.arch == PEER_ARCH:
        check_peer_shape(args)
        if args.init_from is not None:
            raise SystemExit(f"error: --init-from grows our hierarchical VAE; the {PEER_ARCH} peer "
                             "starts from scratch")
        lambdas = args.lmbda or (0.0067,)
        if len(lambdas) != 1:
            raise SystemExit("error: the mbt2018-mean peer trains for one --lmbda")
        config = PeerConfig(N=args.peer_n, M=args.peer_m, lmbda=lambdas[0])
    elif args.init_from is not None:
        source = init_source(args)
        config = replace(shaped(source.config, args), name=args.name)
    else:
        config = shaped(ModelConfig(name=args.name, lambdas=args.lmbda or DEFAULT_LAMBDAS), args)
    betas = args.beta or (1.0,) * config.num_layers
    if len(betas) != config.num_layers:
        raise SystemExit(f"error: --beta needs {config.num_layers} values, one per layer")
    return RunPlan(config, tuple(betas), resume, source)


def stored_args(ckpt_path: Path) -> dict:
    """The options a run's checkpoint was saved with ({} when there is none to read: plan_run
    then says what is wrong in one line)."""
    try:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)
        return json.loads(state["args"])
    except Exception:  # noqa: BLE001 - missing, damaged or a snapshot: read_resume reports it
        return {}


def read_resume(ckpt_path: Path) -> dict:
    """The run's own checkpoint, with everything --resume needs, or a one-line exit."""
    try:
        state = read_training_state(ckpt_path)
    except CodecError as e:
        raise SystemExit(f"error: --resume: {e}")
    missing = {"step", "optimizer", "torch_rng"} - state.keys()
    if missing:
        raise SystemExit(f"error: --resume: {ckpt_path} is a snapshot or export, not a run "
                         f"checkpoint (no {', '.join(sorted(missing))})")
    return state


def resumed_config(args, resume: dict, main: bool):
    """The resumed run's config; --lmbda may move our anchors (same count), nothing else."""
    config = config_from_json(resume["config"])
    ours = isinstance(config, ModelConfig)
    run_arch = "hvae" if ours else PEER_ARCH
    if args.arch is not None and args.arch != run_arch:
        raise SystemExit(f"error: --arch {args.arch} differs from the run's ({run_arch}); "
                         "start a new run with another --out")
    if ours:
        check_resume_shape(args, config)
    else:
        check_peer_shape(args)
    new = args.lmbda
    if new is None or tuple(new) == tuple(config.lambdas):
        return config
    if not ours:
        raise SystemExit("error: the peer's --lmbda cannot change on --resume; start a new run")
    if len(new) != config.num_qualities:
        raise SystemExit(f"error: --lmbda on --resume needs {config.num_qualities} anchors, "
                         f"as many as the run has qualities")
    if main:
        print(f"moving the quality anchors from lambdas {list(config.lambdas)} to {list(new)}", file=sys.stderr)
    retarget_log_steps(resume["model"], config.lambdas, new)
    return replace(config, lambdas=tuple(new))


def init_source(args) -> HierarchicalVAE:
    """The model of --init-from (a training checkpoint or snapshot, a release file or an
    installed model's name), lambdas moved to --lmbda."""
    path = Path(args.init_from)
    installed = not path.is_file() and args.init_from in read_manifest()["models"]
    if not path.is_file() and not installed:
        raise FileNotFoundError(f"--init-from: {path} does not exist (nor is it an installed model)")
    try:
        if installed or path.suffix == ".safetensors":  # a release: weights and config, no optimizer
            release = load_release(args.init_from)[1] if installed else read_release(path)
            state = {"config": release.config.to_json(), "model": release.state_dict()}
        else:
            state = read_training_state(path)
        config = config_from_json(state["config"])
    except (CodecError, ValueError, TypeError) as e:
        raise SystemExit(f"error: --init-from: {e}")
    if not isinstance(config, ModelConfig):
        raise SystemExit("error: --init-from takes a checkpoint of our hierarchical VAE, not the peer")
    new = args.lmbda
    if new is not None and tuple(new) != config.lambdas:
        try:  # a new run: the anchors may move and their number may change
            lambdas = replace(config, lambdas=tuple(new)).lambdas
        except ValueError as e:
            raise SystemExit(f"error: --lmbda: {e}")
        retarget_log_steps(state["model"], config.lambdas, lambdas)
        config = replace(config, lambdas=lambdas)
    if shape_options(args):
        try:
            check(config, shaped(config, args))
        except ValueError as e:
            raise SystemExit(f"error: cannot grow {path} ({','.join(map(str, config.latent_channels))}, "
                             f"context {config.context}) as asked: {e}")
    model = HierarchicalVAE(config)
    model.load_state_dict(state["model"])
    return model


def retarget_log_steps(state: dict, old: tuple[float, ...], new: tuple[float, ...]) -> None:
    """Re-anchor the per-quality quantization steps of a trained model at new lambdas, in place.

    Each channel's learned log step is piecewise linear in log lambda between the old anchors;
    beyond them it continues with the high-rate slope (step ~ lambda^-1/2), so a widened range
    starts where theory puts it instead of from scratch.
    """
    x_old = np.log(np.asarray(old, dtype=np.float64))
    x_new = np.log(np.asarray(new, dtype=np.float64))
    for name in [n for n in state if n.startswith("log_steps.")]:
        table = state[name].double().numpy()  # (Q, channels)
        out = np.empty((len(new), table.shape[1]))
        for c in range(table.shape[1]):
            out[:, c] = np.interp(x_new, x_old, table[:, c])
            below, above = x_new < x_old[0], x_new > x_old[-1]
            out[below, c] = table[0, c] - 0.5 * (x_new[below] - x_old[0])
            out[above, c] = table[-1, c] - 0.5 * (x_new[above] - x_old[-1])
        state[name] = torch.from_numpy(out).to(state[name].dtype)

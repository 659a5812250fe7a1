"""Training command: ``codec train`` / ``python -m codec.train``.

Random flipped crops of image folders, a variable-rate objective (quality sampled
uniformly in [1, Q] per image, lambda interpolated log-linearly between the anchors)
with per-layer betas::

    loss = mean(lmbda * 255^2 * MSE + sum_k beta_k * bpp_k)

Checkpoints (model, optimizer, step, RNG states) are written every few minutes and on
Ctrl-C; ``--resume`` continues exactly (log records of steps a killed run never saved
move to ``log.lost.jsonl``, so ``log.jsonl`` holds each step once). Runs data-parallel
under ``torchrun`` (DDP, NCCL on GPUs, gloo on CPU).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn import functional as F

from .config import CONTEXTS, DEFAULT_LAMBDAS, ModelConfig
from .peer import ARCH as PEER_ARCH
from .peer import PeerConfig, build_model, config_from_json
from .training_data import CropSampler, center_crops, is_validation, list_images, load_rgb, whole_images


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codec train", description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", help="image folder(s) to train on")
    p.add_argument("--out", default="runs/default", help="run folder (checkpoint, log)")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    p.add_argument("--init-from", default=None, metavar="SOURCE",
                   help="start a new run from the weights of another run's checkpoint.pt or snapshot, of a "
                   "release .safetensors, or of an installed model (a name from `codec models`); "
                   "with a wider --latent-channels the latents grow without changing the decoded image "
                   "(codec/grow.py); keeps its lambdas unless --lmbda moves them")
    p.add_argument("--steps", type=int, default=100_000, help="total optimizer steps (sets the schedule)")
    p.add_argument("--stop-at", type=int, default=None,
                   help="save and stop at this step without changing the schedule (resume later)")
    p.add_argument("--snapshot-every", type=int, default=0,
                   help="also keep the weights every N steps in OUT/snapshots/ (0: never)")
    p.add_argument("--batch", type=int, default=16, help="batch size per process")
    p.add_argument("--crop", type=int, default=128, help="crop size in pixels")
    p.add_argument("--lr", type=float, default=3e-4, help="peak learning rate")
    p.add_argument("--warmup", type=int, default=1000, help="linear warm-up steps")
    p.add_argument("--min-lr-ratio", type=float, default=0.02, help="final lr / peak lr (cosine decay)")
    p.add_argument("--decay-steps", type=int, default=0,
                   help="0: cosine decay over the whole run; N > 0: warm-up, then the peak lr held until "
                   "the last N steps, which decay it (cosine) to --min-lr-ratio (warmup-stable-decay: a run "
                   "stopped in the stable part with --stop-at continues later at the same lr, and a copy "
                   "of it resumed to the end gives the annealed model)")
    p.add_argument("--grow-warmup", type=int, default=4000,
                   help="with --init-from and wider latents: the new channels' rate weight ramps from 0 to "
                   "1 over this many steps, so the decoder learns to use them before they pay (0: at once)")
    p.add_argument("--lmbda", type=floats, default=None,
                   help="one lambda, or a comma list of increasing anchors (default: 8 anchors 0.0018..0.18); "
                   "with --resume, moves the quality anchors of a run to new lambdas (same count); "
                   "with --init-from, to new lambdas of any count (new anchors beyond the old range start "
                   "at the high-rate steps, step ~ lambda^-1/2)")
    p.add_argument("--beta", type=floats, default=None, help="per-layer rate weights, top first, e.g. 1,1,1")
    p.add_argument("--channels", type=int, default=None,
                   help=f"width of the hyper-analysis and top-down trunk (default {ModelConfig.channels})")
    p.add_argument("--image-channels", type=int, default=None,
                   help=f"width of the image transforms g_a, g_s (default {ModelConfig.image_channels}; "
                   "with --init-from, wider than the source's widens them without changing the decoded image)")
    p.add_argument("--latent-channels", type=str, default=None,
                   help=f"latent channels per layer, top first (default {','.join(map(str, ModelConfig.latent_channels))})")
    p.add_argument("--context", choices=list(CONTEXTS), default=None,
                   help="spatial context of the finest layer (default: none, or --init-from's); "
                   "checkerboard codes half of it first and predicts the rest from it; with "
                   "--init-from it is added to a model without one, starting as a no-op")
    p.add_argument("--context-lr-scale", type=float, default=10.0,
                   help="learning-rate multiplier of the context network (it starts from zero "
                   "when added to a trained model); a resumed run keeps its own")
    p.add_argument("--name", default="hvae", help="model name stored in the config")
    p.add_argument("--arch", choices=["hvae", PEER_ARCH], default=None,
                   help="our hierarchical VAE (default), or CompressAI's mean-scale hyperprior "
                        "(one --lmbda) as a peer; a resumed run keeps its own")
    p.add_argument("--peer-n", type=int, default=64, help="N of the mbt2018-mean peer")
    p.add_argument("--peer-m", type=int, default=96, help="M of the mbt2018-mean peer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.03, help="share of images held out")
    p.add_argument("--val-every", type=int, default=2000, help="validation interval in steps")
    p.add_argument("--save-minutes", type=float, default=5.0, help="checkpoint interval")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                   help="bf16 autocast for the transforms (auto: on for CUDA and AVX-512 CPUs)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all cores)")
    p.add_argument("--no-progress", action="store_true")
    return p


def floats(text: str) -> tuple[float, ...]:
    """argparse type of --lmbda and --beta: comma-separated numbers."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes comma-separated numbers, got {text!r}") from None


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


# Options that shape the hierarchical VAE: flag -> ModelConfig field.
SHAPE_FIELDS = {"--channels": "channels", "--image-channels": "image_channels",
                "--latent-channels": "latent_channels", "--context": "context"}


def shape_options(args) -> dict[str, object]:
    """The shape options given on the command line: flag -> value."""
    given = {flag: getattr(args, field) for flag, field in SHAPE_FIELDS.items()}
    given["--latent-channels"] = latent_widths(args)  # given as text
    return {flag: value for flag, value in given.items() if value is not None}


def shaped(config: ModelConfig, args) -> ModelConfig:
    """``config`` with the shape options given on the command line."""
    return replace(config, **{SHAPE_FIELDS[flag]: value for flag, value in shape_options(args).items()})


def check_resume_shape(args, config) -> None:
    """A resumed run keeps its shape: a shape option that differs from it is refused."""
    for flag, value in shape_options(args).items():
        if value != getattr(config, SHAPE_FIELDS[flag]):
            shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
            raise SystemExit(f"error: {flag} {shown} differs from the run's; "
                             "start a new run with --init-from to change it")


def check_peer_shape(args) -> None:
    """The peer has its own shape options; the hierarchical VAE's are refused, not ignored."""
    if shape_options(args):
        raise SystemExit(f"error: {', '.join(shape_options(args))} shape the hierarchical VAE, "
                         f"not the {PEER_ARCH} peer (it takes --peer-n, --peer-m)")


def latent_widths(args) -> tuple[int, ...] | None:
    if args.latent_channels is None:
        return None
    try:
        return tuple(int(c) for c in args.latent_channels.split(","))
    except ValueError:
        raise SystemExit(f"error: --latent-channels takes comma-separated integers, got {args.latent_channels!r}")


def lr_at(step: int, args) -> float:
    """Linear warm-up, then a cosine decay to ``min_lr_ratio`` over the rest of the run, or,
    with ``decay_steps``, over its last ``decay_steps`` only (the peak held until then)."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    start = args.steps - args.decay_steps if args.decay_steps > 0 else args.warmup
    t = min(1.0, max(0.0, (step - start) / max(1, args.steps - start)))
    return args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def psnr_db(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    mse = F.mse_loss(x_hat.clamp(0, 1), x, reduction="none").mean(dim=(1, 2, 3))
    return -10 * torch.log10(mse.clamp_min(1e-10))


def use_bf16(choice: str, device: torch.device) -> bool:
    if choice != "auto":
        return choice == "on"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return "avx512_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


class Trainer:
    def __init__(self, args):
        self.args = args
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
        else:
            self.rank, self.world = 0, 1
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0"))
            self.device = torch.device("cuda", local)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
            if args.threads:
                torch.set_num_threads(args.threads)
        self.bf16 = use_bf16(args.bf16, self.device)
        self.out = Path(args.out)
        self.ckpt_path = self.out / "checkpoint.pt"
        self.log_path = self.out / "log.jsonl"
        self.main = self.rank == 0

        if args.resume and not self.ckpt_path.exists():
            raise FileNotFoundError(f"nothing to resume: {self.ckpt_path} does not exist")
        if args.resume and args.init_from is not None:
            raise SystemExit("error: --resume continues the run in --out, --init-from starts a new one; "
                             "pass one of them")
        resume = self._read_resume() if args.resume else None
        if args.resume and self.main:
            print(f"resuming {self.ckpt_path} at step {resume['step']}", file=sys.stderr)
        if resume is None and self.main and self.ckpt_path.exists():
            raise SystemExit(f"error: {self.ckpt_path} exists; pass --resume or another --out")
        if resume is not None:
            self.config = config_from_json(resume["config"])
            run_arch = "hvae" if isinstance(self.config, ModelConfig) else PEER_ARCH
            if args.arch is not None and args.arch != run_arch:
                raise SystemExit(f"error: --arch {args.arch} differs from the run's ({run_arch}); "
                                 "start a new run with another --out")
            if isinstance(self.config, ModelConfig):
                check_resume_shape(args, self.config)
            else:
                check_peer_shape(args)
            new = args.lmbda
            current = self.config.lambdas if isinstance(self.config, ModelConfig) else (self.config.lmbda,)
            if new is not None and tuple(new) != tuple(current):
                if not isinstance(self.config, ModelConfig):
                    raise SystemExit("error: the peer's --lmbda cannot change on --resume; start a new run")
                if len(new) != self.config.num_qualities:
                    raise SystemExit(f"error: --lmbda on --resume needs {self.config.num_qualities} anchors, "
                                     f"as many as the run has qualities")
                if self.main:
                    print(f"moving the quality anchors from lambdas {list(self.config.lambdas)} to {list(new)}",
                          file=sys.stderr)
                retarget_log_steps(resume["model"], self.config.lambdas, new)
                self.config = replace(self.config, lambdas=tuple(new))
        elif args.arch == PEER_ARCH:
            check_peer_shape(args)
            if args.init_from is not None:
                raise SystemExit(f"error: --init-from grows our hierarchical VAE; the {PEER_ARCH} peer "
                                 "starts from scratch")
            lambdas = args.lmbda or (0.0067,)
            if len(lambdas) != 1:
                raise SystemExit("error: the mbt2018-mean peer trains for one --lmbda")
            self.config = PeerConfig(N=args.peer_n, M=args.peer_m, lmbda=lambdas[0])
        elif args.init_from is not None:
            source = self._init_source(args)
            self.config = replace(shaped(source.config, args), name=args.name)
        else:
            self.config = shaped(ModelConfig(name=args.name, lambdas=args.lmbda or DEFAULT_LAMBDAS), args)
        self.betas = args.beta or (1.0,) * self.config.num_layers
        if len(self.betas) != self.config.num_layers:
            raise SystemExit(f"error: --beta needs {self.config.num_layers} values, one per layer")

        torch.manual_seed(args.seed)
        # channels_last: one forward+backward of hvae-v7 (batch 4 x 256 px, bf16, 2 threads) took
        # 0.25 s vs 0.31 s contiguous; whole training steps here were within noise (250 steps in
        # 63 / 68 s vs 64 / 72 s). Kept: it costs nothing and GPUs run bf16 convs in NHWC.
        self.model = build_model(self.config).to(self.device, memory_format=torch.channels_last)
        # CompressAI's entropy bottleneck learns its quantiles with a separate auxiliary loss.
        aux = [p for n, p in self.model.named_parameters() if n.endswith(".quantiles")]
        main = [p for n, p in self.model.named_parameters()
                if not n.endswith(".quantiles") and not n.startswith("context.")]
        context = [p for n, p in self.model.named_parameters() if n.startswith("context.")]
        groups = [{"params": main}]
        if context:  # a fresh network beside a trained model: its own, larger learning rate
            groups.append({"params": context, "lr_scale": args.context_lr_scale})
        self.optimizer = torch.optim.Adam(groups, lr=args.lr)
        self.aux_optimizer = torch.optim.Adam(aux, lr=1e-3) if aux else None
        self.step = 0
        self.elapsed = 0.0

        paths = list_images(args.folders)
        train_paths = [p for p in paths if not is_validation(p, args.val_fraction)]
        val_paths = [p for p in paths if is_validation(p, args.val_fraction)]
        t0 = time.time()
        self.sampler = CropSampler([load_rgb(p, args.crop) for p in train_paths], args.crop,
                                   seed=args.seed * 1000 + self.rank)
        val_images = [load_rgb(p, 256) for p in val_paths]
        self.val = center_crops(val_images, 256) if val_paths else None
        self.val_whole = whole_images(val_images, getattr(self.config, "pad_multiple", 64))
        if self.main:
            print(f"{len(train_paths)} training / {len(val_paths)} validation images decoded in "
                  f"{time.time() - t0:.1f} s; device {self.device}, bf16 {self.bf16}, world {self.world}",
                  file=sys.stderr)

        # Channels grown by --init-from (first new channel per layer); kept in the checkpoint.
        self.grown_from = None
        if resume is not None:
            self.grown_from = resume.get("grown_from")
        elif args.init_from is not None and source.config.latent_channels != self.config.latent_channels:
            self.grown_from = list(source.config.latent_channels)
        if resume is None and args.init_from is not None:
            from .grow import describe, grow

            grown = grow(source, self.config.latent_channels, images=self.sampler.batch(args.batch),
                         seed=args.seed, context=self.config.context, image_channels=self.config.image_channels)
            self.model.load_state_dict(grown.state_dict())
            if self.main:
                print(f"initialised from {args.init_from} ({describe(source.config, self.config)})",
                      file=sys.stderr)

        if resume is not None:
            self.model.load_state_dict(resume["model"])
            self.optimizer.load_state_dict(resume["optimizer"])
            if self.aux_optimizer is not None:
                self.aux_optimizer.load_state_dict(resume["aux_optimizer"])
            self.step = resume["step"]
            self.elapsed = resume.get("elapsed_seconds", 0.0)
            samplers = resume.get("sampler_states", [])
            if self.rank < len(samplers):
                self.sampler.set_state(json.loads(samplers[self.rank]))
            torch.set_rng_state(resume["torch_rng"])
            if self.main:
                self._set_aside_lost_log(self.step)

        self.net = self.model
        if self.distributed:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )

    def _read_resume(self) -> dict:
        """The run's own checkpoint, with everything --resume needs, or a one-line exit."""
        from .checkpoints import read_training_state
        from .errors import CodecError

        try:
            state = read_training_state(self.ckpt_path)
        except CodecError as e:
            raise SystemExit(f"error: --resume: {e}")
        missing = {"step", "optimizer", "torch_rng"} - state.keys()
        if missing:
            raise SystemExit(f"error: --resume: {self.ckpt_path} is a snapshot or export, not a run "
                             f"checkpoint (no {', '.join(sorted(missing))})")
        return state

    @staticmethod
    def _init_source(args):
        """The model of --init-from (a training checkpoint or snapshot, a release file or an
        installed model's name), lambdas moved to --lmbda."""
        from .model import HierarchicalVAE

        from .checkpoints import load_release, read_manifest, read_release, read_training_state
        from .errors import CodecError
        from .grow import check

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

    # -- checkpoints ---------------------------------------------------------------------
    def save(self, gather: bool = True) -> None:
        """Write the checkpoint (rank 0). ``gather`` collects every rank's sampler state,
        a collective call: all ranks must reach it at the same step."""
        states = [json.dumps(self.sampler.state())]
        if self.distributed and gather:
            gathered: list = [None] * self.world
            dist.all_gather_object(gathered, states[0])
            states = gathered
        if not self.main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        payload = {
            "config": self.config.to_json(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            **({"aux_optimizer": self.aux_optimizer.state_dict()} if self.aux_optimizer else {}),
            "step": self.step,
            **({"grown_from": self.grown_from} if self.grown_from is not None else {}),
            "elapsed_seconds": self.elapsed,
            "sampler_states": states,
            "torch_rng": torch.get_rng_state(),
            "args": json.dumps({k: v for k, v in vars(self.args).items()}),
        }
        tmp = self.ckpt_path.with_suffix(".tmp")
        torch.save(payload, tmp)
        os.replace(tmp, self.ckpt_path)

    def snapshot(self) -> None:
        folder = self.out / "snapshots"
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"config": self.config.to_json(), "model": self.model.state_dict(), "step": self.step},
                   folder / f"step_{self.step:07d}.pt")

    def _set_aside_lost_log(self, step: int) -> None:
        """A run stopped without saving (killed) logged steps past its checkpoint; resuming
        redoes them. Move those records to ``log.lost.jsonl`` so ``log.jsonl`` holds each
        step once, in order, and nothing logged is thrown away."""
        path = self.log_path
        if not path.exists():
            return
        kept, lost = [], []
        for line in path.read_text().splitlines(keepends=True):
            try:
                past = json.loads(line).get("step", 0) > step
            except (ValueError, AttributeError):
                past = False  # not ours to judge: keep it where it is
            (lost if past else kept).append(line)
        if lost:
            with open(self.out / "log.lost.jsonl", "a") as f:
                f.writelines(lost)
            tmp = path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(kept))
            os.replace(tmp, path)  # a kill here leaves the old log whole, never half of it
            print(f"moved {len(lost)} log records past step {step} (not in the checkpoint) "
                  f"to {self.out / 'log.lost.jsonl'}", file=sys.stderr)

    def log(self, record: dict) -> None:
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    # -- steps ---------------------------------------------------------------------------
    def autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def train_step(self) -> dict:
        x = self.sampler.batch(self.args.batch).to(self.device, non_blocking=True,
                                                   memory_format=torch.channels_last)
        Q = self.config.num_qualities
        quality = 1 + (Q - 1) * torch.rand(x.shape[0], device=self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step, self.args) * group.get("lr_scale", 1.0)
        with self.autocast():
            out = self.net(x, quality)
        x_hat = out.x_hat.float()
        mse = (x_hat - x).square().mean(dim=(1, 2, 3))
        rate = sum(b * r for b, r in zip(self.betas, self.weighted_bpp(out, x)))
        loss = (self.model.lmbda(quality) * 255**2 * mse + rate).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        if self.aux_optimizer is not None:
            self.aux_optimizer.zero_grad(set_to_none=True)
            self.model.aux_loss().backward()
            self.aux_optimizer.step()
        self.step += 1
        return {
            "loss": loss.item(),
            "bpp": [r.mean().item() for r in out.bpp],
            "psnr_db": psnr_db(x_hat.detach(), x).mean().item(),
        }

    def weighted_bpp(self, out, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer bpp for the loss: grown channels pay a rate weight ramping 0 -> 1 over
        --grow-warmup steps (KL annealing for the new channels only); else ``out.bpp``."""
        ramp = self.args.grow_warmup
        if self.grown_from is None or ramp <= 0 or self.step >= ramp or out.channel_bits is None:
            return out.bpp
        w = self.step / ramp
        num_pixels = x.shape[2] * x.shape[3]
        return [(cb[:, :m].sum(1) + w * cb[:, m:].sum(1)) / num_pixels
                for cb, m in zip(out.channel_bits, self.grown_from)]

    @torch.no_grad()
    def validate(self) -> dict:
        self.model.eval()
        Q = self.config.num_qualities
        qualities = sorted({1.0, float(1 + (Q - 1) // 2), float(Q)})
        crops = list(self.val.split(8))
        result = {f"q{q:g}": self._forward_stats(crops, q) for q in qualities}
        if isinstance(self.config, ModelConfig):
            for q, coded in zip(qualities, self.validate_coded(qualities)):
                result[f"q{q:g}"]["coded"] = coded
        if self.val_whole:  # whole images: crop-size gaps of the upper layers show here
            for q in qualities:
                result[f"q{q:g}"]["whole"] = self._forward_stats(self.val_whole, q)
        self.model.train()
        return result

    def _forward_stats(self, batches: list[torch.Tensor], q: float) -> dict:
        """Mean training-forward bpp per layer and PSNR over the images of ``batches``."""
        bpp, psnr = [], []
        for x in batches:
            x = x.to(self.device)
            out = self.model(x, torch.full((x.shape[0],), q, device=self.device))
            bpp.append(torch.stack(out.bpp, 1).cpu())
            psnr.append(psnr_db(out.x_hat.float(), x).cpu())
        return {"bpp": [round(v, 4) for v in torch.cat(bpp).mean(0).tolist()],
                "psnr_db": round(torch.cat(psnr).mean().item(), 3)}

    def validate_coded(self, qualities: list[float]) -> list[dict]:
        """The same crops through the real coder (a CPU copy of the model), per quality: bpp
        from the bytes written and PSNR of the 8-bit decode. Catches what the training forward
        cannot see: tables, escapes, snapping, the container."""
        from .api import Codec

        coder = Codec.from_model(copy.deepcopy(self.model).float().cpu(), "validation")
        pixels = (self.val * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        out = []
        for q in qualities:
            bpp, psnr = [], []
            for image in pixels:
                data = coder.compress(image, q)
                decoded = np.asarray(coder.decompress(data), dtype=np.float64)
                mse = max(float(np.mean((decoded - image) ** 2)), 1e-10)
                bpp.append(8 * len(data) / (image.shape[0] * image.shape[1]))
                psnr.append(10 * math.log10(255**2 / mse))
            out.append({"bpp": round(float(np.mean(bpp)), 4), "psnr_db": round(float(np.mean(psnr)), 3)})
        return out

    def _agree(self, value: int) -> int:
        """Rank 0's decision, shared with every rank (so collectives stay in step)."""
        if not self.distributed:
            return value
        t = torch.tensor([value], device=self.device)
        dist.broadcast(t, src=0)
        return int(t.item())

    def run(self) -> None:
        args = self.args
        stop = {"flag": False}

        def request_stop(signum, frame):
            stop["flag"] = True

        signal.signal(signal.SIGTERM, request_stop)
        progress = None
        if self.main and not args.no_progress:
            from tqdm import tqdm
            progress = tqdm(total=args.steps, initial=self.step, dynamic_ncols=True)
        last_save = time.time()
        saved_at = self.step
        window = []
        t_start = time.time()
        try:
            end = min(args.steps, args.stop_at or args.steps)
            while self.step < end:
                t0 = time.time()
                stats = self.train_step()
                self.elapsed += time.time() - t0
                window.append(stats)
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix_str(
                        f"loss {stats['loss']:.3f} bpp {'/'.join(f'{b:.3f}' for b in stats['bpp'])} "
                        f"psnr {stats['psnr_db']:.2f}"
                    )
                if self.step % args.log_every == 0:
                    n = len(window)
                    self.log({
                        "step": self.step,
                        "loss": sum(w["loss"] for w in window) / n,
                        "bpp": [sum(w["bpp"][k] for w in window) / n for k in range(len(window[0]["bpp"]))],
                        "psnr_db": sum(w["psnr_db"] for w in window) / n,
                        "lr": lr_at(self.step - 1, args),
                        "steps_per_s": n / max(1e-9, time.time() - t_start),
                        "elapsed_seconds": round(self.elapsed, 1),
                    })
                    window, t_start = [], time.time()
                if self.val is not None and self.main and self.step % args.val_every == 0:
                    self.log({"step": self.step, "validation": self.validate()})
                # Save and stop (SIGTERM) only at points every rank reaches together.
                if args.snapshot_every and self.step % args.snapshot_every == 0 and self.main:
                    self.snapshot()
                if self.step % args.log_every == 0 or self.step == end:
                    due = time.time() - last_save > args.save_minutes * 60
                    decision = self._agree(int(due) | 2 * int(stop["flag"]))
                    if decision or self.step == end:
                        self.save()
                        last_save = time.time()
                        saved_at = self.step
                    if decision & 2:
                        break
        except KeyboardInterrupt:
            if self.main:
                print("\ninterrupted: saving checkpoint", file=sys.stderr)
        finally:
            if saved_at != self.step:
                # Interrupted between agreed save points: other ranks may be gone, so no gather.
                self.save(gather=False)
            if progress is not None:
                progress.close()
            if self.distributed:
                if saved_at == self.step:
                    # Leave together: a rank that tears down gloo while rank 0 still writes
                    # the checkpoint can make its peer abort (seen here: SIGABRT, 1 run in 6).
                    dist.barrier()
                dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        Trainer(args).run()
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

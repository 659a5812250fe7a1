"""The flags of ``codec train`` and their checks; the learning-rate schedule they set."""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, replace

from ..config import CONTEXTS, ModelConfig
from .peer import ARCH as PEER_ARCH


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codec train", description="Train a model of the codec (or the mbt2018-mean peer) on image folders.")
    p.add_argument("folders", nargs="+", help="image folder(s) to train on")
    p.add_argument("--out", default="runs/default", help="run folder (checkpoint, log)")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    p.add_argument("--init-from", default=None, metavar="SOURCE",
                   help="start a new run from the weights of another run's checkpoint.pt or snapshot, of a "
                   "release .safetensors, or of an installed model (a name from `codec models`); "
                   "with a wider --latent-channels the latents grow without changing the decoded image "
                   "(codec/training/grow.py); keeps its lambdas unless --lmbda moves them")
    p.add_argument("--steps", type=count(1), default=100_000, help="total optimizer steps (sets the schedule)")
    p.add_argument("--stop-at", type=count(1), default=None,
                   help="save and stop at this step without changing the schedule (resume later)")
    p.add_argument("--snapshot-every", type=count(0), default=0,
                   help="also keep the weights every N steps in OUT/snapshots/ (0: never)")
    p.add_argument("--batch", type=count(1), default=16, help="batch size per process")
    p.add_argument("--crop", type=count(1), default=128, help="crop size in pixels")
    p.add_argument("--lr", type=number(0, above=True), default=3e-4, help="peak learning rate")
    p.add_argument("--warmup", type=count(0), default=1000, help="linear warm-up steps")
    p.add_argument("--min-lr-ratio", type=number(0, 1), default=0.02, help="final lr / peak lr (cosine decay)")
    p.add_argument("--decay-steps", type=count(0), default=0,
                   help="0: cosine decay over the whole run; N > 0: warm-up, then the peak lr held until "
                   "the last N steps, which decay it (cosine) to --min-lr-ratio (warmup-stable-decay: a run "
                   "stopped in the stable part with --stop-at continues later at the same lr, and a copy "
                   "of it resumed to the end gives the annealed model)")
    p.add_argument("--ema", type=number(0, 1, below=True), default=0.0, metavar="DECAY",
                   help="also keep an exponential moving average of the weights with this decay (e.g. 0.999; "
                   "0: none); its decay ramps up as (1+n)/(10+n) over its first n updates, validation reports "
                   "it as well, and `codec export --ema` releases it")
    p.add_argument("--grow-warmup", type=count(0), default=4000,
                   help="with --init-from and wider latents: the new channels' rate weight ramps from 0 to "
                   "1 over this many steps, so the decoder learns to use them before they pay (0: at once)")
    p.add_argument("--lmbda", type=floats, default=None,
                   help="one lambda, or a comma list of increasing anchors (default: 8 anchors 0.0018..0.18); "
                   "with --resume, moves the quality anchors of a run to new lambdas (same count); "
                   "with --init-from, to new lambdas of any count (new anchors beyond the old range start "
                   "at the high-rate steps, step ~ lambda^-1/2)")
    p.add_argument("--beta", type=floats, default=None, help="per-layer rate weights, top first, e.g. 1,1,1")
    p.add_argument("--channels", type=count(1), default=None,
                   help=f"width of the hyper-analysis and top-down trunk (default {ModelConfig.channels})")
    p.add_argument("--image-channels", type=count(1), default=None,
                   help=f"width of the image transforms g_a, g_s (default {ModelConfig.image_channels}; "
                   "with --init-from, wider than the source's widens them without changing the decoded image)")
    p.add_argument("--latent-channels", type=str, default=None,
                   help=f"latent channels per layer, top first (default {','.join(map(str, ModelConfig.latent_channels))})")
    p.add_argument("--context", choices=list(CONTEXTS), default=None,
                   help="spatial context of the finest layer (default: none, or --init-from's); "
                   "checkerboard codes half of it first and predicts the rest from it; with "
                   "--init-from it is added to a model without one, starting as a no-op")
    p.add_argument("--inject", action="store_true", default=None,
                   help="the top-down state also feeds the synthesis through a projection that starts "
                   "at zero (ModelConfig.inject): the upper layers can carry image content; with "
                   "--init-from it is added to a trained model without changing what it decodes")
    p.add_argument("--prefix-weight", type=number(0), default=0.0, metavar="W",
                   help="also weight the distortion of a k-layer prefix decode by W (k drawn per batch "
                   "from 1 .. layers - 1), so the upper layers learn a useful preview (0: off)")
    p.add_argument("--context-lr-scale", type=number(0, above=True), default=10.0,
                   help="learning-rate multiplier of the context network (it starts from zero "
                   "when added to a trained model); a resumed run keeps its own")
    p.add_argument("--name", default="hvae", help="model name stored in the config")
    p.add_argument("--arch", choices=["hvae", PEER_ARCH], default=None,
                   help="our hierarchical VAE (default), or CompressAI's mean-scale hyperprior "
                        "(one --lmbda) as a peer; a resumed run keeps its own")
    p.add_argument("--peer-n", type=count(1), default=64, help="N of the mbt2018-mean peer")
    p.add_argument("--peer-m", type=count(1), default=96, help="M of the mbt2018-mean peer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=number(0, 1, below=True), default=0.03, help="share of images held out")
    p.add_argument("--val-every", type=count(1), default=2000, help="validation interval in steps")
    p.add_argument("--save-minutes", type=number(0, above=True), default=5.0, help="checkpoint interval")
    p.add_argument("--log-every", type=count(1), default=50)
    p.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                   help="bf16 autocast for the transforms (auto: on for CUDA and AVX-512 CPUs)")
    p.add_argument("--threads", type=count(0), default=0, help="torch CPU threads (0: all cores)")
    p.add_argument("--no-progress", action="store_true")
    return p


def given_options(argv: list[str] | None) -> set[str]:
    """The destinations of the options written on the command line (not left at defaults)."""
    parser = build_parser()
    for action in parser._actions:  # a fresh parser: its options' defaults suppressed
        if action.option_strings:
            action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


# What --resume takes from the command line only: where the run is and how it reports; its
# shape, anchors and kind live in its config (a differing shape option is refused).
FROM_COMMAND_LINE = {"folders", "out", "resume", "init_from", "stop_at", "no_progress", "lmbda", "arch",
                     "peer_n", "peer_m", "channels", "image_channels", "latent_channels", "context", "inject"}


def resumed_args(args: argparse.Namespace, stored: dict, given: set[str]) -> argparse.Namespace:
    """``args`` of a resumed run: each option not written on the command line takes the run's
    own value (its schedule, batch, crop, moving average, ...), so --resume continues exactly;
    one that is written changes it from here on."""
    merged = dict(vars(args))
    for key, value in stored.items():
        if key in merged and key not in given and key not in FROM_COMMAND_LINE:
            merged[key] = tuple(value) if isinstance(value, list) else value
    return argparse.Namespace(**merged)


def count(low: int):
    """argparse type of a whole-number flag of at least ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"takes a whole number >= {low}, got {text!r}")
        return value
    return parse


def number(low: float, high: float | None = None, above: bool = False, below: bool = False):
    """argparse type of a real-valued flag in [low, high] (``above``/``below``: open at that end),
    so that a value outside its range is a usage error rather than a silently different run."""
    span = ("(" if above else "[") + f"{low:g}, " + ("inf)" if high is None else f"{high:g}" + (")" if below else "]"))

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes a number, got {text!r}") from None
        if (not math.isfinite(value) or value < low or (above and value == low)
                or (high is not None and (value > high or (below and value == high)))):
            raise argparse.ArgumentTypeError(f"takes a number in {span}, got {text!r}")
        return value
    return parse


def floats(text: str) -> tuple[float, ...]:
    """argparse type of --lmbda and --beta: comma-separated numbers."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes comma-separated numbers, got {text!r}") from None


# Options that shape the hierarchical VAE: flag -> ModelConfig field.
SHAPE_FIELDS = {"--channels": "channels", "--image-channels": "image_channels",
                "--latent-channels": "latent_channels", "--context": "context", "--inject": "inject"}


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


@dataclass(frozen=True)
class Schedule:
    """Linear warm-up, then a cosine decay to ``min_lr_ratio`` over the rest of the run, or,
    with ``decay_steps``, over its last ``decay_steps`` only (the peak held until then)."""

    lr: float
    steps: int
    warmup: int
    decay_steps: int = 0
    min_lr_ratio: float = 0.02

    @classmethod
    def from_args(cls, args) -> "Schedule":
        return cls(args.lr, args.steps, args.warmup, args.decay_steps, args.min_lr_ratio)

    def lr_at(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        start = self.steps - self.decay_steps if self.decay_steps > 0 else self.warmup
        t = min(1.0, max(0.0, (step - start) / max(1, self.steps - start)))
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))

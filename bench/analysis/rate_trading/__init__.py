"""``rate-trading``: a per-layer beta grid of small models trained through ``python -m
codec.training``; rates per layer, distortion and progressive reconstructions (Xiao & Bamler,
ICLR 2023). ``train`` the grid's runs, ``evaluate`` coded bits and prefix decodes, ``figures``
the PNG."""
from __future__ import annotations

import time
from pathlib import Path

from bench.datasets import KODAK, REPO, TRAIN

from ..options import say, written
from ..outputs import default_out, write_json

HELP = "per-layer beta grid via codec.training (Xiao & Bamler 2023)"


def add_arguments(p) -> None:
    p.add_argument("--train", type=Path, default=TRAIN, help="training images (never a test set)")
    p.add_argument("--grid", default=None, help='beta vectors, top first: "1,1,1;0.5,0.5,2" '
                   "(default: upper layers x bottom layer in {0.5,1,2}^2)")
    p.add_argument("--steps", type=int, default=6000,
                   help="steps per grid point (about 15 steps/s with the default model on one core)")
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lmbda", type=float, default=0.0067)
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--image-channels", type=int, default=24)
    p.add_argument("--latent-channels", default="8,12,24")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads per training run")
    p.add_argument("--snapshots", type=int, default=0, help="save S checkpoints per run (constant lr)")
    p.add_argument("--inject", action="store_true",
                   help="models whose upper layers also feed the synthesis (codec train --inject)")
    p.add_argument("--prefix-weight", type=float, default=0.0,
                   help="weight of a k-layer prefix decode's distortion in training (codec train --prefix-weight)")
    p.add_argument("--runs", type=Path, default=REPO / "runs" / "analysis" / "rate-trading")
    p.add_argument("--eval-dataset", type=Path, default=KODAK)
    p.add_argument("--eval-limit", type=int, default=24, help="first N images of --eval-dataset")
    p.add_argument("--eval-crop", type=int, default=None,
                   help="centre crop size for evaluation (default: --crop; the small models' top "
                   "layer is 1x1 at 64 px, and larger crops put them out of their training regime)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--compare", nargs="+", default=None, metavar="LABEL=FOLDER",
                   help="instead of training: put the grids of variants side by side (each FOLDER an --out "
                   "of an earlier run): variants.md and variants.png in --out")


def settings_from(args):
    """The :class:`TrainSettings` of the command line (the train folder made absolute: the runs
    start in the repository root)."""
    from .train import TrainSettings

    return TrainSettings(
        train_folder=str(args.train.resolve()), steps=args.steps, crop=args.crop, batch=args.batch, lmbda=args.lmbda,
        channels=args.channels, image_channels=args.image_channels,
        latent_channels=tuple(int(c) for c in args.latent_channels.split(",")), lr=args.lr,
        warmup=args.warmup, seed=args.seed, threads=args.threads, snapshots=args.snapshots,
        inject=args.inject, prefix_weight=args.prefix_weight)


def run(args) -> int:
    from dataclasses import asdict

    if args.compare:
        from .compare import compare

        written(compare(args.compare, args.out or default_out("rate-trading")))
        return 0

    from ..patches import center_crops, load_folder
    from .evaluate import RateTradingResult, evaluate_point, rate_pairs
    from .train import default_grid, parse_grid, train_point

    settings = settings_from(args)
    grid = parse_grid(args.grid, settings.num_layers) if args.grid else default_grid(settings.num_layers)
    root = args.runs / settings.slug()
    eval_crop = args.eval_crop or args.crop
    x = center_crops(load_folder(args.eval_dataset, args.eval_limit), eval_crop)
    points = []
    for betas in grid:
        t0 = time.time()
        trained = train_point(settings, betas, root, log=say)
        result = evaluate_point(trained, x)
        points.append(result)
        upper, bottom = rate_pairs(result)
        say(f"betas {betas}: {'trained' if trained.trained_now else 'cached'} in {time.time() - t0:.0f} s; "
            f"{upper:.3f} + {bottom:.3f} bpp, {result.psnr_db:.2f} dB")
    result = RateTradingResult(asdict(settings), str(root), str(args.eval_dataset), eval_crop,
                               int(x.shape[0]), tuple(points))
    out = args.out or default_out("rate-trading")
    files = [write_json(out / "rate_trading.json", result)]
    if not args.no_plots:
        from .figures import rate_trading_figure

        files.append(rate_trading_figure(result, out / "rate_trading.png"))
    for p in points:
        print(f"betas {','.join(f'{b:g}' for b in p.betas)}: layer bpp "
              f"{'/'.join(f'{v:.4f}' for v in p.layer_bpp)}, PSNR {p.psnr_db:.2f} dB, top-k PSNR "
              f"{'/'.join(f'{v:.2f}' for v in p.progressive_psnr_db)}")
    written(files)
    return 0

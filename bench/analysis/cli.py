"""Command line of the analyses: ``python -m bench analyze {spectrum,ima,rate-trading,similarity}``.

    python -m bench analyze spectrum --dataset ../shared/data/kodak --limit 8 --qualities 4
    python -m bench analyze ima --dataset ../shared/data/kodak --patches 8 --columns 32
    python -m bench analyze rate-trading --train ../shared/data/train --steps 2000
    python -m bench analyze similarity --dataset ../shared/data/kodak --qualities 1,4,8
    python -m bench analyze similarity --run-dir runs/analysis/rate-trading/<slug>/b1_1_1

Each writes ``<out>/<sub>.json`` and PNGs (default ``results/analysis/<sub>/``) and is
tested in-process through :func:`main`. ``--model`` takes a release name (default: the
shipped default model), a training checkpoint ``.pt`` or a run folder.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .outputs import REPO, default_out, write_json

DEFAULT_KODAK = REPO.parent / "shared" / "data" / "kodak"
DEFAULT_TRAIN = REPO.parent / "shared" / "data" / "train"


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench analyze", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, limit: int | None):
        p.add_argument("--dataset", type=Path, default=DEFAULT_KODAK, help="folder of images")
        p.add_argument("--limit", type=int, default=limit, help="first N images of the folder")
        p.add_argument("--model", default=None, help="release name, checkpoint .pt or run folder")
        p.add_argument("--out", type=Path, default=None, help="results folder")
        p.add_argument("--no-plots", action="store_true")

    p = sub.add_parser("spectrum", help="latents ranked like PCA eigenvalues, vs the KLT (Nakagawa et al. 2021)")
    common(p, 8)
    p.add_argument("--qualities", type=_floats, default=[4.0], help="comma list, e.g. 1,4,8")
    p.add_argument("--block", type=int, default=8, help="KLT block size")

    p = sub.add_parser("ima", help="decoder Jacobian: IMA contrast, isometry, self-consistency (Reizinger et al. 2022)")
    common(p, 8)
    p.add_argument("--qualities", type=_floats, default=None, help="comma list (default 1..Q)")
    p.add_argument("--patches", type=int, default=8, help="number of random crops")
    p.add_argument("--patch-size", type=int, default=64)
    p.add_argument("--columns", type=int, default=32, help="Jacobian columns per layer and patch (m)")
    p.add_argument("--sampling", choices=("random", "position"), default="random",
                   help="columns at random channels and positions, or channels at one position")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("rate-trading", help="per-layer beta grid via codec.training (Xiao & Bamler 2023)")
    p.add_argument("--train", type=Path, default=DEFAULT_TRAIN, help="training images (never a test set)")
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
    p.add_argument("--runs", type=Path, default=REPO / "runs" / "analysis" / "rate-trading")
    p.add_argument("--eval-dataset", type=Path, default=DEFAULT_KODAK)
    p.add_argument("--eval-limit", type=int, default=24, help="first N images of --eval-dataset")
    p.add_argument("--eval-crop", type=int, default=None,
                   help="centre crop size for evaluation (default: --crop; the small models' top "
                   "layer is 1x1 at 64 px, and larger crops put them out of their training regime)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--no-plots", action="store_true")

    p = sub.add_parser("similarity", help="CKA / Procrustes between layer activations (Bonheme & Grzes 2022)")
    common(p, 8)
    p.add_argument("--crops", type=int, default=32, help="number of random crops (n)")
    p.add_argument("--crop-size", type=int, default=64)
    p.add_argument("--qualities", type=_floats, default=None,
                   help="qualities of --model to compare (default 1..Q when no checkpoints/models are given)")
    p.add_argument("--checkpoints", nargs="+", default=None, help="training checkpoints of one run, oldest first")
    p.add_argument("--run-dir", type=Path, default=None, help="run folder with snapshots/step_*.pt")
    p.add_argument("--models", nargs="+", default=None, help="checkpoints to compare (the first is the reference)")
    p.add_argument("--quality", type=float, default=None, help="quality for checkpoints and models")
    p.add_argument("--seed", type=int, default=0)
    return parser


def _images(args, multiple: int) -> list[tuple[str, "np.ndarray"]]:  # noqa: F821
    from bench.images import list_images, load_rgb

    from .patches import crop_to_multiple

    return [(f.name, crop_to_multiple(load_rgb(f.path), multiple)) for f in list_images(args.dataset, args.limit)]


def cmd_spectrum(args) -> int:
    from .models import load_model
    from .spectrum_report import run_spectrum

    named = load_model(args.model)
    images = _images(args, named.model.config.pad_multiple)
    result = run_spectrum(named, images, args.qualities, str(args.dataset), args.block, progress=_say)
    out = args.out or default_out("spectrum")
    files = [write_json(out / "spectrum.json", result)]
    if not args.no_plots:
        from . import figures

        files += [figures.spectrum_figure(result, qs, out / f"spectrum_q{qs.quality:g}.png") for qs in result.qualities]
    for qs in result.qualities:
        s = qs.summary
        print(f"q={qs.quality:g}: {s.bpp:.4f} bpp; bits: 50/90/99% in {s.rate_channels} of {s.num_channels} channels "
              f"({s.active_channels} active); var(ŷ)/Δ²: {s.energy_channels}; KLT energy {s.klt_energy_coefficients}, "
              f"KLT rate {s.klt_rate_coefficients} of {s.klt_dims}; per image r(bits, isometric) = "
              f"{s.pearson_bits_vs_isometric:.3f}")
    print("wrote " + ", ".join(map(str, files)))
    return 0


def cmd_ima(args) -> int:
    from .ima import run_ima
    from .models import load_model
    from .patches import random_crops

    named = load_model(args.model)
    images = [im for _, im in _images(args, 1)]
    x = random_crops(images, args.patch_size, args.patches, args.seed)
    qualities = args.qualities or [float(q) for q in range(1, named.model.config.num_qualities + 1)]
    result = run_ima(named, x, qualities, args.columns, args.seed, str(args.dataset), args.sampling, progress=_say)
    out = args.out or default_out("ima" if args.sampling == "random" else f"ima-{args.sampling}")
    files = [write_json(out / "ima.json", result)]
    if not args.no_plots:
        from . import figures

        files.append(figures.ima_figure(result, out / "ima.png"))
    for r in result.qualities:
        print(f"q={r.quality:g}: " + "; ".join(
            f"L{l.layer}: c={l.contrast:.2f} (rand {l.random_contrast:.2f}), logstd={l.log_norm_std:.2f}, "
            f"iso={l.isometry_ratio_median:.3g}, sc={l.self_consistency_steps:.3f} steps" for l in r.layers))
    print("wrote " + ", ".join(map(str, files)))
    return 0


def cmd_rate_trading(args) -> int:
    from dataclasses import asdict

    from .patches import center_crops, load_folder
    from .rate_evaluation import RateTradingResult, evaluate_point, rate_pairs
    from .rate_trading import TrainSettings, default_grid, parse_grid, train_point

    settings = TrainSettings(
        train_folder=str(args.train), steps=args.steps, crop=args.crop, batch=args.batch, lmbda=args.lmbda,
        channels=args.channels, image_channels=args.image_channels,
        latent_channels=tuple(int(c) for c in args.latent_channels.split(",")), lr=args.lr,
        warmup=args.warmup, seed=args.seed, threads=args.threads, snapshots=args.snapshots)
    grid = parse_grid(args.grid, settings.num_layers) if args.grid else default_grid(settings.num_layers)
    root = args.runs / settings.slug()
    eval_crop = args.eval_crop or args.crop
    x = center_crops(load_folder(args.eval_dataset, args.eval_limit), eval_crop)
    points = []
    for betas in grid:
        t0 = time.time()
        trained = train_point(settings, betas, root, log=_say)
        result = evaluate_point(trained, x)
        points.append(result)
        upper, bottom = rate_pairs(result)
        _say(f"betas {betas}: {'trained' if trained.trained_now else 'cached'} in {time.time() - t0:.0f} s; "
             f"{upper:.3f} + {bottom:.3f} bpp, {result.psnr_db:.2f} dB")
    result = RateTradingResult(asdict(settings), str(root), str(args.eval_dataset), eval_crop,
                               int(x.shape[0]), tuple(points))
    out = args.out or default_out("rate-trading")
    files = [write_json(out / "rate_trading.json", result)]
    if not args.no_plots:
        from . import figures

        files.append(figures.rate_trading_figure(result, out / "rate_trading.png"))
    for p in points:
        print(f"betas {','.join(f'{b:g}' for b in p.betas)}: layer bpp "
              f"{'/'.join(f'{v:.4f}' for v in p.layer_bpp)}, PSNR {p.psnr_db:.2f} dB, top-k PSNR "
              f"{'/'.join(f'{v:.2f}' for v in p.progressive_psnr_db)}")
    print("wrote " + ", ".join(map(str, files)))
    return 0


def cmd_similarity(args) -> int:
    from .models import load_checkpoint, load_model
    from .patches import random_crops
    from .similarity_report import run_similarity

    checkpoint_paths = list(args.checkpoints or [])
    if args.run_dir:
        checkpoint_paths += sorted(str(p) for p in (args.run_dir / "snapshots").glob("step_*.pt"))
        if not checkpoint_paths and (args.run_dir / "checkpoint.pt").exists():
            checkpoint_paths = [str(args.run_dir / "checkpoint.pt")]
    checkpoints = sorted((load_checkpoint(p) for p in checkpoint_paths), key=lambda c: c.step or 0)
    models = [load_model(m) for m in args.models or []]
    quality_model, qualities = None, []
    if args.qualities or not (checkpoints or models):
        quality_model = load_model(args.model)
        qualities = args.qualities or [float(q) for q in range(1, quality_model.model.config.num_qualities + 1)]
    images = [im for _, im in _images(args, 1)]
    x = random_crops(images, args.crop_size, args.crops, args.seed)
    result = run_similarity(x, str(args.dataset), quality_model, qualities, checkpoints, models, args.quality,
                            progress=_say)
    out = args.out or default_out("similarity")
    files = [write_json(out / "similarity.json", result)]
    if not args.no_plots:
        from . import figures

        files += [figures.similarity_figure(t, out / f"similarity_{t.kind}.png") for t in result.tables]
        if result.within is not None:
            files.append(figures.within_figure(result.within, out / "similarity_within.png"))
    for t in result.tables:
        print(f"{t.kind} (reference {t.reference}): mean CKA encoder "
              f"{'/'.join(f'{v:.3f}' for v in t.mean_cka_encoder)}, decoder "
              f"{'/'.join(f'{v:.3f}' for v in t.mean_cka_decoder)} over {', '.join(t.labels)}")
    print("wrote " + ", ".join(map(str, files)))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"spectrum": cmd_spectrum, "ima": cmd_ima, "rate-trading": cmd_rate_trading,
                "similarity": cmd_similarity}
    from codec.errors import CodecError

    from .rate_trading import TrainingFailed

    try:
        return handlers[args.command](args)
    except (FileNotFoundError, ValueError, CodecError, TrainingFailed) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

"""Command line: ``python -m bench {rd,speed,crops,overhead,fit-klt,readme,analyze} ...``; tested in-process through ``main(argv)``.

    python -m bench rd --dataset ../shared/data/kodak --codecs jpeg,webp,klt [--jobs N] [--limit N]
    python -m bench speed [--image PATH] [--codecs ours,mbt2018-mean,jpeg,webp,avif]
    python -m bench fit-klt [--train ../shared/data/train] [--block 8]
    python -m bench readme [--check]      # README's results block from results/
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import codecs as registry
from bench.datasets import HOLDOUT, KODAK, REPO, TRAIN

DEFAULT_SPEED_IMAGE = KODAK / "kodim01.png"
DEFAULT_RD_CODECS = ("ours", "mbt2018-mean") + registry.CLASSICAL + ("klt",)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in registry.REGISTRY]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown codec(s) {', '.join(unknown)}; known: {', '.join(registry.REGISTRY)}")
    return names


def _rd_names(text: str) -> tuple[str, ...]:
    names = _names(text)
    if speed_only := [n for n in names if n in registry.SPEED_ONLY]:
        raise argparse.ArgumentTypeError(f"{', '.join(speed_only)}: random weights, for bench speed only")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    rd = sub.add_parser("rd", help="rate-distortion sweep over a folder of images")
    rd.add_argument("--dataset", type=Path, required=True, help="folder of images (PNG, JPEG, ...)")
    rd.add_argument("--codecs", type=_rd_names, default=DEFAULT_RD_CODECS,
                    help=f"comma-separated, from {','.join(n for n in registry.REGISTRY if n not in registry.SPEED_ONLY)} "
                    "(default: all)")
    rd.add_argument("--out", type=Path, help="results folder (default: results/<dataset-name>[-first<N>])")
    rd.add_argument("--jobs", type=int, default=1, help="worker processes (timings are clean only with 1)")
    rd.add_argument("--limit", type=int, help="use only the first N images (sorted by name)")
    rd.add_argument("--klt-basis", type=Path, help="KLT basis .npz (default: bench/klt_basis_b8.npz)")
    rd.add_argument("--model", default=None,
                    help="ours: a shipped model by name (default: the manifest's default); use --out to keep its results apart")
    rd.add_argument("--effort", type=int, default=0, help="ours: the encoder's effort level (codec compress --effort)")
    rd.add_argument("--references", choices=("auto", "on", "off"), default="auto",
                    help="published Kodak curves of learned codecs (auto: when the dataset is Kodak)")
    rd.add_argument("--no-plots", action="store_true")
    rd.add_argument("--no-progress", action="store_true")

    speed = sub.add_parser("speed", help="encode/decode speed and memory on one 768x512 image")
    speed.add_argument("--image", type=Path, default=DEFAULT_SPEED_IMAGE)
    speed.add_argument("--codecs", type=_names, default=("ours", "mbt2018-mean", "mbt2018-mean-zoo",
                                                         "bmshj2018-hyperprior-zoo", "jpeg", "webp", "avif"),
                       help="codecs to time (the -zoo ones: CompressAI's architectures at their zoo widths, "
                       "random weights, speed only)")
    speed.add_argument("--bpp", type=float, default=1.0, help="time each codec at its quality nearest this rate")
    speed.add_argument("--repeats", type=int, default=5)
    speed.add_argument("--threads", type=int, default=1, help="torch threads (classical codecs use one)")
    speed.add_argument("--out", type=Path, default=REPO / "results" / "speed")
    speed.add_argument("--sizes", default=None,
                       help="instead: ours through the CLI at these sizes, e.g. 768x512,3840x2160,6000x4000: "
                       "seconds and whole-process peak RSS (writes sizes.md)")
    speed.add_argument("--quality", type=float, default=7.0, help="with --sizes: the quality")

    crops = sub.add_parser("crops", help="one PNG of a crop coded by each codec at the nearest equal file size")
    crops.add_argument("image", type=Path)
    aim = crops.add_mutually_exclusive_group(required=True)
    aim.add_argument("--bpp", type=float, help="target rate of the whole image")
    aim.add_argument("--size", type=int, help="target bytes of the whole image's file")
    crops.add_argument("--crop", default=None, metavar="LEFT,TOP,W,H", help="the region shown (default: centre 256x256)")
    crops.add_argument("--zoom", type=int, default=1, help="enlarge the crop N times (nearest neighbour)")
    crops.add_argument("--codecs", type=_rd_names, default=("ours", "jpeg", "webp", "jpeg2000", "avif", "heic"))
    crops.add_argument("--out", type=Path, default=None, help="the PNG (default docs/figures/crops-<image>-<target>.png)")
    sub.add_parser("analyze", help="paper analyses: spectrum, ima, rate-trading, similarity "
                                   "(see python -m bench analyze --help)", add_help=False)
    over = sub.add_parser("overhead", help="written bytes vs the model's rate estimate over a folder")
    over.add_argument("--dataset", required=True)
    over.add_argument("--qualities", default="1,4,8")
    over.add_argument("--limit", type=int, default=None)
    over.add_argument("--model", default=None)
    effort = sub.add_parser("effort", help="encoder effort levels: seconds and BD-rate on fixed image subsets")
    effort.add_argument("--datasets", type=Path, nargs="+", default=[KODAK, HOLDOUT])
    effort.add_argument("--images", type=int, default=8, help="the first N images of each data set")
    effort.add_argument("--qualities", default="1,3,5,7,9,11", help="qualities of ours (comma list)")
    effort.add_argument("--levels", default=None, help="effort levels (comma list; default: all)")
    effort.add_argument("--model", default=None)
    effort.add_argument("--out", type=Path, default=REPO / "results" / "effort")
    effort.add_argument("--no-progress", action="store_true")
    readme = sub.add_parser("readme", help="rebuild README's results block from results/")
    readme.add_argument("--results", type=Path, default=REPO / "results")
    readme.add_argument("--readme", type=Path, default=REPO / "README.md")
    readme.add_argument("--check", action="store_true", help="exit 1 if README is out of date; write nothing")
    fit = sub.add_parser("fit-klt", help="fit the KLT basis on training images")
    fit.add_argument("--train", type=Path, default=TRAIN, help="training images (never a test set)")
    fit.add_argument("--block", type=int, default=8)
    fit.add_argument("--out", type=Path, help="default: bench/klt_basis_b<block>.npz")
    return parser


def cmd_rd(args) -> int:
    from bench.rd import RdOptions, run_rd

    name = (args.dataset.resolve().name + (f"-first{args.limit}" if args.limit else "")
            + (f"-effort{args.effort}" if args.effort else ""))
    options = {"klt": {"basis_path": str(args.klt_basis)}} if args.klt_basis else {}
    if args.model or args.effort:
        options["ours"] = {"model_name": args.model, "effort": args.effort}
    result = run_rd(RdOptions(
        dataset=args.dataset, codecs=args.codecs, out=args.out or REPO / "results" / name,
        jobs=args.jobs, limit=args.limit, options=options, progress=not args.no_progress,
        plots=not args.no_plots, references={"auto": None, "on": True, "off": False}[args.references]))
    print(result.report)
    print("wrote " + ", ".join(str(p) for p in result.files))
    return 0


def cmd_speed(args) -> int:
    from bench.speed import run_speed, speed_table, write_speed

    if not args.image.exists():
        print(f"error: no image at {args.image}; pass --image", file=sys.stderr)
        return 2
    if args.sizes:
        from bench.speed import run_sizes, sizes_table

        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
        table = sizes_table(run_sizes(args.image, sizes, args.quality, args.threads, args.out / "sizes"),
                            args.threads)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "sizes.md").write_text("# Sizes\n\n" + table)
        print(table)
        print(f"wrote {args.out / 'sizes.md'}")
        return 0
    results, skipped = run_speed(args.image, args.codecs, args.bpp, args.repeats, args.threads)
    for message in skipped:
        print(f"skipped {message}", file=sys.stderr)
    print(speed_table(results))
    print("wrote " + ", ".join(str(p) for p in write_speed(results, args.out, args.image)))
    return 0


def cmd_crops(args) -> int:
    from bench.crops import run_crops, table

    if not args.image.exists():
        print(f"error: no image at {args.image}", file=sys.stderr)
        return 2
    box = None
    if args.crop:
        try:
            box = tuple(int(v) for v in args.crop.split(","))
            assert len(box) == 4
        except (ValueError, AssertionError):
            print(f"error: --crop takes LEFT,TOP,W,H, got {args.crop!r}", file=sys.stderr)
            return 1
    tag = f"{args.bpp:g}bpp" if args.bpp is not None else f"{args.size}B"
    out = args.out or REPO / "docs" / "figures" / f"crops-{args.image.stem}-{tag}.png"
    try:
        path, coded, skipped = run_crops(args.image, out, args.bpp, args.size, box, args.zoom, args.codecs)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for message in skipped:
        print(f"skipped {message}", file=sys.stderr)
    from PIL import Image

    w, h = Image.open(args.image).size
    print(table(coded, args.size if args.size is not None else int(round(args.bpp * w * h / 8))))
    print(f"wrote {path}")
    return 0


def cmd_fit_klt(args) -> int:
    from bench.klt_basis import default_basis_path, fit_folder, save_basis

    basis = fit_folder(args.train, args.block)
    out = args.out or default_basis_path(args.block)
    save_basis(basis, out)
    print(f"wrote {out}: {basis.source}; digest {basis.digest.hex()}")
    return 0


def cmd_overhead(args) -> int:
    from bench.overhead import measure, report

    qualities = tuple(float(q) for q in args.qualities.split(","))
    print(report(measure(args.dataset, qualities, args.limit, args.model)))
    return 0


def cmd_effort(args) -> int:
    from codec.refine import EFFORTS

    from bench.effort import run_effort

    levels = tuple(int(v) for v in args.levels.split(",")) if args.levels else tuple(range(len(EFFORTS)))
    qualities = tuple(float(q) for q in args.qualities.split(","))
    report, files = run_effort(args.datasets, args.images, qualities, levels, args.out, args.model,
                               progress=not args.no_progress)
    print(report)
    print("wrote " + ", ".join(str(p) for p in files))
    return 0


def cmd_readme(args) -> int:
    from bench.readme import main as readme_main

    return readme_main(args.results, args.readme, args.check)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "analyze":  # the paper analyses have their own subcommands
        from bench.analysis.cli import main as analyze_main

        return analyze_main(argv[1:])
    args = build_parser().parse_args(argv)
    return {"rd": cmd_rd, "speed": cmd_speed, "crops": cmd_crops, "fit-klt": cmd_fit_klt, "overhead": cmd_overhead,
            "effort": cmd_effort, "readme": cmd_readme}[args.command](args)

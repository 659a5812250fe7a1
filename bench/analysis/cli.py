"""Command line of the analyses: ``python -m bench analyze {spectrum,ima,rate-trading,similarity}``.

    python -m bench analyze spectrum --dataset ../shared/data/kodak --limit 8 --qualities 4
    python -m bench analyze ima --dataset ../shared/data/kodak --patches 8 --columns 32
    python -m bench analyze rate-trading --train ../shared/data/train --steps 2000
    python -m bench analyze similarity --dataset ../shared/data/kodak --qualities 1,4,8
    python -m bench analyze similarity --run-dir runs/analysis/rate-trading/<slug>/b1_1_1

Each analysis is one folder, ``bench/analysis/<name>/``, whose ``__init__`` gives ``HELP``,
``add_arguments(parser)`` and ``run(args) -> exit code``; :data:`ANALYSES` below is the only
place that lists them. Each writes ``<out>/<name>.json`` and PNGs (default
``results/analysis/<name>/``) and is tested in-process through :func:`main`. ``--model`` takes a
release name (default: the shipped default model), a training checkpoint ``.pt`` or a run folder.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# command -> the package of its analysis
ANALYSES = {
    "spectrum": "bench.analysis.spectrum",
    "ima": "bench.analysis.ima",
    "rate-trading": "bench.analysis.rate_trading",
    "similarity": "bench.analysis.similarity",
    "amortization": "bench.analysis.amortization",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench analyze", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command, package in ANALYSES.items():
        analysis = importlib.import_module(package)
        analysis.add_arguments(sub.add_parser(command, help=analysis.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from codec.errors import CodecError

    from .rate_trading.train import TrainingFailed

    try:
        return importlib.import_module(ANALYSES[args.command]).run(args)
    except (FileNotFoundError, ValueError, CodecError, TrainingFailed) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

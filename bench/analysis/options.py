"""What the analyses' command lines share: the dataset, model and output options, and the
images they read."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bench.datasets import KODAK

from .patches import crop_to_multiple


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def add_common(p: argparse.ArgumentParser, limit: int | None) -> None:
    """--dataset, --limit, --model, --out, --no-plots."""
    p.add_argument("--dataset", type=Path, default=KODAK, help="folder of images")
    p.add_argument("--limit", type=int, default=limit, help="first N images of the folder")
    p.add_argument("--model", default=None, help="release name, checkpoint .pt or run folder")
    p.add_argument("--out", type=Path, default=None, help="results folder")
    p.add_argument("--no-plots", action="store_true")


def images(args, multiple: int) -> list[tuple[str, np.ndarray]]:
    """(name, image) of the first --limit images of --dataset, cropped to a multiple of ``multiple``."""
    from bench.images import list_images, load_rgb

    return [(f.name, crop_to_multiple(load_rgb(f.path), multiple)) for f in list_images(args.dataset, args.limit)]


def written(files: list[Path]) -> None:
    print("wrote " + ", ".join(map(str, files)))


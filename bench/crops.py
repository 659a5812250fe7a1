"""``python -m bench crops IMAGE --bpp 0.25``: look, don't read.

One PNG of the same crop of IMAGE coded by each codec at the file size nearest a target (the
whole image is coded; the crop is shown 1:1, or enlarged with ``--zoom``), the original
first, each labelled with its codec, whole-file bytes and whole-image PSNR. Ours hits the size
from below (``compress(target_bytes=...)``); a classical codec's quality is bisected over its
range (integer qualities where it takes integers) for the file nearest the size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bench import codecs as registry
from bench.images import load_rgb
from bench.metrics import psnr_rgb_db

DEFAULT_CODECS = ("ours", "jpeg", "webp", "jpeg2000", "avif", "heic")
LABEL_HEIGHT = 34


@dataclass(frozen=True)
class Coded:
    codec: str
    quality: float
    bytes: int
    psnr_db: float
    decoded: np.ndarray


def nearest_size(codec, image: np.ndarray, target: int, probes: int = 14) -> tuple[float, bytes]:
    """The quality of ``codec`` (in its sweep's range) whose file is nearest ``target`` bytes."""
    lo, hi = float(min(codec.qualities)), float(max(codec.qualities))
    integral = all(float(q).is_integer() for q in codec.qualities)
    tried: dict[float, bytes] = {}

    def size(q: float) -> int:
        q = float(round(q)) if integral else q
        if q not in tried:
            tried[q] = codec.encode(image, q)
        return len(tried[q])

    for _ in range(probes):
        mid = (lo + hi) / 2
        if size(mid) > target:
            hi = mid
        else:
            lo = mid
        if integral and hi - lo <= 1:
            break
    size(lo), size(hi)
    best = min(tried, key=lambda q: abs(math.log(len(tried[q]) / target)))
    return best, tried[best]


def code_all(image: np.ndarray, target: int, names: tuple[str, ...]) -> tuple[list[Coded], list[str]]:
    codecs, skipped = registry.create_available(names)
    out = []
    for codec in codecs:
        if codec.name == "ours":
            import codec as ours

            data = ours.compress(image, target_bytes=target)
            quality = ours.container.parse(data).header.quality
        else:
            quality, data = nearest_size(codec, image, target)
        decoded = codec.decode(data)
        out.append(Coded(codec.name, quality, len(data), psnr_rgb_db(image, decoded), decoded))
    return out, skipped


def figure(image: np.ndarray, coded: list[Coded], box: tuple[int, int, int, int], zoom: int,
           columns: int = 4) -> Image.Image:
    """A grid of the crop ``box`` (left, top, width, height): the original, then each codec."""
    left, top, w, h = box
    tiles = [("original", image)] + [(f"{c.codec}  {c.bytes:,} B  {c.psnr_db:.2f} dB", c.decoded) for c in coded]
    rows = math.ceil(len(tiles) / columns)
    tw, th = w * zoom, h * zoom
    sheet = Image.new("RGB", (columns * tw, rows * (th + LABEL_HEIGHT)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    for i, (label, pixels) in enumerate(tiles):
        x, y = (i % columns) * tw, (i // columns) * (th + LABEL_HEIGHT)
        crop = Image.fromarray(pixels[top:top + h, left:left + w]).resize((tw, th), Image.NEAREST)
        sheet.paste(crop, (x, y + LABEL_HEIGHT))
        draw.text((x + 6, y + 8), label, fill="black", font=font)
    return sheet


def run_crops(image_path: Path, out: Path, bpp: float | None = None, size: int | None = None,
              box: tuple[int, int, int, int] | None = None, zoom: int = 1,
              names: tuple[str, ...] = DEFAULT_CODECS) -> tuple[Path, list[Coded], list[str]]:
    image = load_rgb(image_path)
    h, w = image.shape[:2]
    target = size if size is not None else int(round(bpp * w * h / 8))
    if box is None:  # the centre, 256 px a side
        side = min(256, w, h)
        box = ((w - side) // 2, (h - side) // 2, side, side)
    left, top, bw, bh = box
    if not (0 <= left and 0 <= top and bw > 0 and bh > 0 and left + bw <= w and top + bh <= h):
        raise ValueError(f"crop {box} is not inside the {w}x{h} image")
    coded, skipped = code_all(image, target, names)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure(image, coded, box, zoom).save(out, optimize=True)
    return out, coded, skipped


def table(coded: list[Coded], target: int) -> str:
    lines = [f"target {target:,} bytes", "", "| codec | quality | bytes | PSNR (dB) |", "|---|---|---|---|"]
    lines += [f"| {c.codec} | {c.quality:g} | {c.bytes:,} | {c.psnr_db:.2f} |" for c in coded]
    return "\n".join(lines) + "\n"

"""Dataset means per codec and quality point (:class:`Curve`) in ONE JSON schema for every codec.

The schema is CompressAI's, plus ``kind`` and optional per-layer results::

    {"name": "webp", "description": "...", "kind": "measured" | "model" | "published",
     "settings": {...},
     "results": {"quality": [...], "bpp": [...], "psnr-rgb": [...], "ms-ssim": [...],
                 "encoding_time": [...], "decoding_time": [...],
                 "layers": {"bpp": [[k=1..L] per quality], "psnr-rgb": [[...]],
                            "rate_share": [[...]]}}}        # "layers" for layered codecs only

Means are over images: bpp, PSNR (dB, per image first), MS-SSIM, seconds. Missing values
are JSON null. Layer 1's rate share includes the container header.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bench.record import Record

KINDS = ("measured", "model", "published")


@dataclass(frozen=True)
class LayerCurves:
    """Per quality point (outer), per number of layers k = 1..L (inner)."""

    bpp: tuple[tuple[float, ...], ...]
    psnr_rgb_db: tuple[tuple[float, ...], ...]
    rate_share: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class Curve:
    name: str
    description: str
    kind: str
    bpp: tuple[float, ...]
    psnr_rgb_db: tuple[float, ...]
    quality: tuple[float, ...] = ()
    ms_ssim: tuple[float, ...] = ()
    encode_seconds: tuple[float, ...] = ()
    decode_seconds: tuple[float, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    layers: LayerCurves | None = None


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def summarize(name: str, description: str, settings: dict[str, Any], records: Sequence[Record]) -> Curve:
    """Average a codec's per-image records over images, one point per quality, by rising bpp."""
    by_quality: dict[float, list[Record]] = {}
    for r in records:
        by_quality.setdefault(r.quality, []).append(r)
    groups = sorted(by_quality.values(), key=lambda rs: _mean([r.bpp for r in rs]))
    column = lambda attr: tuple(_mean([getattr(r, attr) for r in rs]) for rs in groups)  # noqa: E731
    layers = None
    if groups and all(r.layers for rs in groups for r in rs):
        bpp, psnr, share = [], [], []
        for rs in groups:
            num_layers = len(rs[0].layers)
            bpp.append(tuple(_mean([r.layers[k].bpp for r in rs]) for k in range(num_layers)))
            psnr.append(tuple(_mean([r.layers[k].psnr_rgb_db for r in rs]) for k in range(num_layers)))
            share.append(tuple(_mean([(r.layers[k].num_bytes - (r.layers[k - 1].num_bytes if k else 0))
                                      / r.num_bytes for r in rs]) for k in range(num_layers)))
        layers = LayerCurves(tuple(bpp), tuple(psnr), tuple(share))
    settings = {**settings, "num_images": len({r.image for r in records})}
    return Curve(name, description, "measured", column("bpp"), column("psnr_rgb_db"),
                 tuple(rs[0].quality for rs in groups), column("ms_ssim"),
                 column("encode_seconds"), column("decode_seconds"), settings, layers)


def _json_list(values) -> list:
    if isinstance(values, (tuple, list)):
        return [_json_list(v) for v in values]
    return None if not math.isfinite(values) else float(values)


def _floats(values) -> tuple:
    if isinstance(values, list) and values and isinstance(values[0], list):
        return tuple(_floats(v) for v in values)
    return tuple(math.nan if v is None else float(v) for v in values or ())


def curve_to_json(curve: Curve) -> dict[str, Any]:
    results = {"quality": _json_list(curve.quality), "bpp": _json_list(curve.bpp),
               "psnr-rgb": _json_list(curve.psnr_rgb_db), "ms-ssim": _json_list(curve.ms_ssim),
               "encoding_time": _json_list(curve.encode_seconds),
               "decoding_time": _json_list(curve.decode_seconds)}
    if curve.layers is not None:
        results["layers"] = {"bpp": _json_list(curve.layers.bpp), "psnr-rgb": _json_list(curve.layers.psnr_rgb_db),
                             "rate_share": _json_list(curve.layers.rate_share)}
    return {"name": curve.name, "description": curve.description, "kind": curve.kind,
            "settings": curve.settings, "results": results}


def curve_from_json(obj: dict[str, Any]) -> Curve:
    r = obj["results"]
    layers = None
    if "layers" in r:
        layers = LayerCurves(_floats(r["layers"]["bpp"]), _floats(r["layers"]["psnr-rgb"]),
                             _floats(r["layers"]["rate_share"]))
    return Curve(obj["name"], obj.get("description", ""), obj.get("kind", "measured"),
                 _floats(r["bpp"]), _floats(r.get("psnr-rgb", r.get("psnr"))), _floats(r.get("quality")),
                 _floats(r.get("ms-ssim", r.get("ms-ssim-rgb"))), _floats(r.get("encoding_time")),
                 _floats(r.get("decoding_time")), obj.get("settings", {}), layers)


def write_curve(curve: Curve, path: Path) -> None:
    Path(path).write_text(json.dumps(curve_to_json(curve), indent=2) + "\n")


def read_curve(path: Path) -> Curve:
    return curve_from_json(json.loads(Path(path).read_text()))


def write_records_csv(records: Sequence[Record], path: Path) -> None:
    """One row per (codec, quality, image); per-layer fields are JSON lists, [] if none."""
    rows = [r.to_row() for r in sorted(records, key=lambda r: (r.codec, r.quality, r.image))]
    if not rows:
        return
    with Path(path).open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in row.items()})

"""BD-rate tables (markdown) of every curve against the anchors JPEG 4:2:0 and HEIC."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from bench.bdrate import bd_psnr, bd_rate
from bench.summary import Curve

ANCHORS = (("jpeg", "JPEG 4:2:0"), ("heic", "HEIC"))
_KIND_MARK = {"measured": "", "model": " (model)", "published": " (published, not measured here)"}


def _percent(v: float) -> str:
    return f"{v:+.1f}%" if math.isfinite(v) else "n/a"


def _db(v: float) -> str:
    return f"{v:+.2f}" if math.isfinite(v) else "n/a"


def _overlap(a: Curve, b: Curve) -> str:
    lo = max(min(a.psnr_rgb_db), min(b.psnr_rgb_db))
    hi = min(max(a.psnr_rgb_db), max(b.psnr_rgb_db))
    return f"{lo:.1f}-{hi:.1f}" if hi > lo else "none"


def bd_table(curves: Sequence[Curve], method: str = "cubic") -> str:
    """Markdown: one row per curve; BD-rate < 0 and BD-PSNR > 0 mean better than the anchor."""
    by_name = {c.name: c for c in curves}
    anchors = [(name, label) for name, label in ANCHORS if name in by_name]
    header = ["codec"]
    for _, label in anchors:
        header += [f"BD-rate vs {label}", f"BD-PSNR vs {label} (dB)", f"PSNR overlap vs {label} (dB)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for curve in curves:
        cells = [curve.name + _KIND_MARK.get(curve.kind, "")]
        for name, _ in anchors:
            anchor = by_name[name]
            args = (anchor.bpp, anchor.psnr_rgb_db, curve.bpp, curve.psnr_rgb_db)
            cells += [_percent(bd_rate(*args, method=method)), _db(bd_psnr(*args, method=method)),
                      _overlap(anchor, curve)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Piecewise linear in x over a monotone curve; nan outside its range (no extrapolation)."""
    order = np.argsort(xs)
    xs, ys = np.asarray(xs, dtype=float)[order], np.asarray(ys, dtype=float)[order]
    if len(xs) < 2 or not xs[0] <= x <= xs[-1]:
        return math.nan
    return float(np.interp(x, xs, ys))


def point_table(curves: Sequence[Curve]) -> str:
    """Single-point codecs (e.g. a peer trained at one lambda) against every curve: the
    curve's PSNR at the point's rate (linear in log bpp) and its rate at the point's PSNR."""
    points = [c for c in curves if len(c.bpp) == 1]
    if not points:
        return ""
    lines = ["| point | bpp | PSNR (dB) | other codec | its PSNR at that bpp (dB) | its bpp at that PSNR |",
             "|---|---|---|---|---|---|"]
    for point in points:
        bpp, psnr = point.bpp[0], point.psnr_rgb_db[0]
        for curve in curves:
            if len(curve.bpp) < 2 or curve.kind != "measured":
                continue
            other_psnr = _interp(math.log(bpp), [math.log(b) for b in curve.bpp], curve.psnr_rgb_db)
            log_bpp = _interp(psnr, curve.psnr_rgb_db, [math.log(b) for b in curve.bpp])
            other_bpp = f"{math.exp(log_bpp):.3f} ({math.exp(log_bpp) / bpp - 1:+.1%})" if math.isfinite(log_bpp) else "n/a"
            other = f"{other_psnr:.2f} ({other_psnr - psnr:+.2f})" if math.isfinite(other_psnr) else "n/a"
            lines.append(f"| {point.name} | {bpp:.3f} | {psnr:.2f} | {curve.name} | {other} | {other_bpp} |")
    return "\n".join(lines) + "\n"


def bd_report(curves: Sequence[Curve], dataset: str) -> str:
    if not any(c.name == name for c in curves for name, _ in ANCHORS):
        return f"# BD-rate on {dataset}\n\nNo anchor (jpeg or heic) among the results.\n"
    return (
        f"# BD-rate on {dataset}\n\n"
        "Rate: 8 x bytes written / pixels; PSNR-RGB of the 8-bit output, averaged over images. "
        "Negative BD-rate = fewer bits than the anchor at equal PSNR, averaged over the PSNR "
        "interval where both curves have points (Bjontegaard, VCEG-M33).\n\n"
        "## Cubic polynomial fit (Bjontegaard)\n\n" + bd_table(curves, "cubic")
        + "\n## Piecewise cubic Hermite (PCHIP, JCT-VC/JVET CTC sheets)\n\n" + bd_table(curves, "pchip")
        + (("\n## Single-point codecs against the curves\n\nIn brackets: the curve minus the point "
            "(PSNR in dB, rate in percent); n/a where the curve does not reach.\n\n" + points)
           if (points := point_table(curves)) else "")
    )


def layer_table(curve: Curve, dataset: str) -> str:
    """Markdown for a layered codec: per quality, the file's bpp and PSNR, the bpp each layer
    adds, and the PSNR of decoding only the first k layers (the progressive trace)."""
    L = len(curve.layers.bpp[0])
    header = (["quality", "bpp", "PSNR-RGB (dB)"] + [f"layer {k} bpp" for k in range(1, L + 1)]
              + [f"PSNR, {k} layer{'s' if k > 1 else ''} (dB)" for k in range(1, L)])
    lines = [f"### {curve.name} on {dataset}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, quality in enumerate(curve.quality):
        cumulative = curve.layers.bpp[i]
        added = [cumulative[0]] + [b - a for a, b in zip(cumulative, cumulative[1:])]
        cells = ([f"{quality:g}", f"{curve.bpp[i]:.3f}", f"{curve.psnr_rgb_db[i]:.2f}"]
                 + [f"{b:.3f}" for b in added] + [f"{p:.2f}" for p in curve.layers.psnr_rgb_db[i][:-1]])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nLayer 1 is the top (coarsest) layer; its bpp includes the file header.\n"

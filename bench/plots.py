"""All figures of the bench (PNG); the only module that imports matplotlib.

- ``rd_psnr.png``: bpp vs PSNR-RGB of every curve; measured solid, Gaussian-model R(D)
  dotted, published learned codecs dashed and marked "published, not measured here".
- ``rd_ms_ssim.png``: bpp vs MS-SSIM in dB, -10 log10(1 - MS-SSIM).
- ``time_vs_bpp.png``: encode and decode seconds per image vs bpp (measured codecs).
- ``<name>_progressive.png``: per quality, the (bpp_k, PSNR_k) polyline of the first k
  layers of a layered codec; ``<name>_layer_rates.png``: per-layer bpp stacked per quality.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.summary import Curve  # noqa: E402

MAX_BPP = 2.6


def _label(c: Curve) -> str:
    if c.kind == "published":
        return f"{c.name} (published, not measured here)"
    if c.kind == "model":
        return c.description.split(":")[0] + (" [train eigenvalues]" if c.name.endswith("train") else "")
    return f"{c.name} (operational)" if c.name == "klt" else c.name


def _style(c: Curve, color) -> dict:
    """Measured: solid with markers (ours thick); model: grey dash-dot/dotted; published: dashed."""
    if c.kind == "published":
        return {"linestyle": "--", "marker": None, "color": color, "linewidth": 1.2}
    if c.kind == "model":
        return {"linestyle": ":" if c.name.endswith("train") else "-.", "marker": None, "color": "0.3",
                "linewidth": 1.4}
    return {"linestyle": "-", "marker": "o", "markersize": 3, "color": color,
            "linewidth": 2.2 if c.name == "ours" else 1.2}


def _colors(curves: Sequence[Curve]) -> dict[str, tuple]:
    """Distinct tab10 colours first; tab20's lighter shades only past ten curves."""
    palette = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("tab20").colors[1::2])
    coloured = [c for c in curves if c.kind != "model"]
    return {c.name: palette[i % len(palette)] for i, c in enumerate(coloured)}


def _visible(bpp, values):
    bpp, values = np.asarray(bpp, float), np.asarray(values, float)
    keep = (bpp <= MAX_BPP) & np.isfinite(values)
    return bpp[keep], values[keep]


def rd_plot(curves: Sequence[Curve], path: Path, title: str, metric: str = "psnr") -> None:
    colors = _colors(curves)
    fig, ax = plt.subplots(figsize=(9, 6.5))
    shown = []
    for c in curves:
        if metric == "psnr":
            y = c.psnr_rgb_db
        elif len(c.ms_ssim) == len(c.bpp) and any(math.isfinite(v) for v in c.ms_ssim):
            y = [-10 * math.log10(max(1 - v, 1e-12)) if math.isfinite(v) else math.nan for v in c.ms_ssim]
        else:
            continue
        x, y = _visible(c.bpp, y)
        if len(x):
            ax.plot(x, y, label=_label(c), **_style(c, colors.get(c.name)))
            if c.kind != "model":  # model curves dive towards 0 bpp; keep the codecs readable
                shown.append(y)
    if shown:
        measured = np.concatenate(shown)
        ax.set_ylim(np.percentile(measured, 1) - 1, measured.max() + 1)
    ax.set_xlim(0, MAX_BPP)
    ax.set_xlabel("bits per pixel (8 x bytes written / pixels)")
    ax.set_ylabel("PSNR-RGB (dB)" if metric == "psnr" else "MS-SSIM (dB) = -10 log10(1 - MS-SSIM)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if shown:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def time_plot(curves: Sequence[Curve], path: Path, title: str) -> None:
    measured = [c for c in curves if c.kind == "measured" and len(c.encode_seconds) == len(c.bpp)]
    colors = _colors(curves)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharex=True)
    for ax, attr, name in ((axes[0], "encode_seconds", "encode"), (axes[1], "decode_seconds", "decode")):
        for c in measured:
            x, y = _visible(c.bpp, getattr(c, attr))
            ax.plot(x, y, label=c.name, **_style(c, colors.get(c.name)))
        ax.set_yscale("log")
        ax.set_xlim(0, MAX_BPP)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(f"{name} seconds per image (mean)")
        ax.grid(alpha=0.3, which="both")
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def progressive_plot(curve: Curve, context: Sequence[Curve], path: Path, title: str) -> None:
    """Per quality point, PSNR after decoding the first k layers, at the bytes of k layers."""
    layers = curve.layers
    fig, ax = plt.subplots(figsize=(9, 6.5))
    for c in context:
        if c.kind == "measured" and c.name != curve.name:
            ax.plot(*_visible(c.bpp, c.psnr_rgb_db), color="0.75", linewidth=1, label=None)
    cmap = plt.get_cmap("viridis")
    for i, (bpp, psnr) in enumerate(zip(layers.bpp, layers.psnr_rgb_db)):
        quality = curve.quality[i] if i < len(curve.quality) else i + 1
        ax.plot(bpp, psnr, marker="o", markersize=3, color=cmap(i / max(1, len(layers.bpp) - 1)),
                label=f"q={quality:g}: k=1..{len(bpp)} layers")
    ax.plot(curve.bpp, curve.psnr_rgb_db, color="black", linewidth=2, label=f"{curve.name}, all layers")
    ax.set_xlabel("bits per pixel of the first k layers (header included)")
    ax.set_ylabel("PSNR-RGB of the k-layer decode (dB)")
    ax.set_title(title + " (grey: other codecs)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def layer_rate_plot(curve: Curve, path: Path, title: str) -> None:
    """Stacked bars: bpp spent on each layer (layer 1 includes the header), per quality."""
    cumulative = np.array(curve.layers.bpp, dtype=float)  # (Q, L)
    per_layer = np.diff(np.concatenate([np.zeros((len(cumulative), 1)), cumulative], axis=1), axis=1)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    x = np.arange(len(per_layer))
    bottom = np.zeros(len(per_layer))
    cmap = plt.get_cmap("viridis")
    num_layers = per_layer.shape[1]
    for k in range(num_layers):
        ax.bar(x, per_layer[:, k], bottom=bottom, color=cmap(k / max(1, num_layers - 1)),
               label=f"layer {k + 1}" + (" (+ header)" if k == 0 else ""))
        bottom += per_layer[:, k]
    ax.set_xticks(x, [f"{q:g}" for q in curve.quality[: len(x)]])
    ax.set_xlabel("quality")
    ax.set_ylabel("bits per pixel")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def all_plots(curves: Sequence[Curve], out: Path, dataset: str) -> list[Path]:
    out = Path(out)
    paths = [out / "rd_psnr.png", out / "rd_ms_ssim.png", out / "time_vs_bpp.png"]
    rd_plot(curves, paths[0], f"Rate-distortion on {dataset}")
    rd_plot([c for c in curves if c.kind != "model"], paths[1], f"MS-SSIM on {dataset}", metric="ms-ssim")
    time_plot(curves, paths[2], f"Coding time on {dataset}")
    for c in curves:
        if c.layers is not None:
            paths.append(out / f"{c.name}_progressive.png")
            progressive_plot(c, curves, paths[-1], f"{c.name}: progressive decoding on {dataset}")
            paths.append(out / f"{c.name}_layer_rates.png")
            layer_rate_plot(c, paths[-1], f"{c.name}: rate per layer on {dataset}")
    return paths

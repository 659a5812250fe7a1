"""All figures of the analyses (PNG); pyplot comes from :mod:`bench.plots`, the one module
that imports matplotlib (and selects its Agg backend).

* spectrum: ``spectrum_q<q>.png`` -- sorted per-channel bits next to the KLT water-filling
  rates at the same bpp; isometric variances var(ŷ)/Δ^2 next to KLT eigenvalues (both
  normalised to their sum); cumulative shares; bits spent vs the isometric estimate per image.
* ima: ``ima.png`` -- IMA contrast per column, column-norm spread, isometry ratio and
  self-consistency against quality, one line per layer.
* rate-trading: ``rate_trading.png`` -- rates above the bottom layer vs the bottom layer's
  rate, coloured by PSNR; PSNR vs bpp; PSNR of the top k layers.
* similarity: ``similarity_<kind>.png`` heatmaps (layers x checkpoints / qualities / models)
  and ``similarity_within.png`` (layer x layer CKA).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.plots import plt

from .spectra import cumulative_share

LAYER_COLORS = ("tab:red", "tab:orange", "tab:blue", "tab:green", "tab:purple")


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- spectrum ---------------------------------------------------------------------------
def spectrum_figure(result, qs, out: Path) -> Path:
    """qs: a QualitySpectrum of ``result`` (a SpectrumResult)."""
    ch = qs.channels
    layer = np.array([c.layer for c in ch])
    bits = np.array([c.bits_per_image for c in ch])
    var_sym = np.array([c.var_symbols for c in ch])
    klt = np.array(result.klt_eigenvalues)
    klt_rates = np.array(qs.klt_waterfill_bits_per_block)
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))

    a = ax[0, 0]
    order = np.argsort(-bits)
    rank = (np.arange(len(bits)) + 0.5) / len(bits)
    a.scatter(rank, np.maximum(bits[order] / bits.sum(), 1e-7), c=[LAYER_COLORS[k % 5] for k in layer[order]], s=10)
    kr = np.sort(klt_rates)[::-1]
    a.plot((np.arange(kr.size) + 0.5) / kr.size, np.maximum(kr / max(kr.sum(), 1e-12), 1e-7), "k--",
           label=f"KLT water-filling at {qs.summary.bpp:.3f} bpp")
    for k in sorted(set(layer)):
        a.scatter([], [], c=LAYER_COLORS[k % 5], s=10, label=f"layer {k}")
    a.set_yscale("log")
    a.set_xlabel("rank / number of components")
    a.set_ylabel("share of the bits")
    a.set_title("rate spectrum (sorted channels)")
    a.legend(fontsize=7)

    a = ax[0, 1]
    vs = np.sort(var_sym)[::-1]
    a.plot((np.arange(vs.size) + 0.5) / vs.size, np.maximum(vs / vs.sum(), 1e-9), "b.-", ms=3,
           label="codec: var(ŷ)/Δ² per channel")
    ke = np.sort(klt)[::-1]
    a.plot((np.arange(ke.size) + 0.5) / ke.size, np.maximum(ke / ke.sum(), 1e-9), "k--",
           label=f"KLT {result.klt_block}x{result.klt_block}x3 eigenvalues")
    a.set_yscale("log")
    a.set_xlabel("rank / number of components")
    a.set_ylabel("share of the total variance")
    a.set_title("isometric variance spectrum vs PCA")
    a.legend(fontsize=7)

    a = ax[1, 0]
    for values, style, label in ((bits, "r-", "codec bits"), (var_sym, "b-", "codec var(ŷ)/Δ²"),
                                 (klt_rates, "k--", "KLT water-filling bits"), (klt, "k:", "KLT eigenvalues")):
        c = cumulative_share(values)
        a.plot(np.arange(1, c.size + 1) / c.size, c, style, label=label)
    a.set_xlabel("fraction of components (largest first)")
    a.set_ylabel("cumulative share")
    a.set_xscale("log")
    a.set_title("concentration")
    a.legend(fontsize=7)

    a = ax[1, 1]
    spent = np.array([i.bits / i.num_pixels for i in qs.images])
    iso = np.array([i.isometric_bits / i.num_pixels for i in qs.images])
    a.scatter(spent, iso, s=14)
    lo, hi = min(spent.min(), iso.min()), max(spent.max(), iso.max())
    a.plot([lo, hi], [lo, hi], "k:", lw=0.8, label="y = x")
    a.set_xlabel("bits spent (table bits) / pixel")
    a.set_ylabel("isometric estimate / pixel")
    a.set_title(f"per image: Pearson r = {qs.summary.pearson_bits_vs_isometric:.3f}, "
                f"Spearman = {qs.summary.spearman_bits_vs_isometric:.3f}", fontsize=9)
    a.legend(fontsize=7)
    fig.suptitle(f"{result.model} on {result.dataset}, q = {qs.quality:g}", fontsize=10)
    return _save(fig, out)


# -- ima --------------------------------------------------------------------------------
def ima_figure(result, out: Path) -> Path:
    q = np.array([r.quality for r in result.qualities])
    L = len(result.qualities[0].layers)
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    panels = (
        (ax[0, 0], "contrast_per_column", "c_IMA / column (nats)", False),
        (ax[0, 1], "log_norm_std", "std of log ||J_i|| within a patch", False),
        (ax[1, 0], "isometry_ratio_median", "median ||J_i|| Δ_i / sqrt(6 β)", True),
        (ax[1, 1], "self_consistency_steps", "rms (y(x̃) - y) / Δ  (steps)", True),
    )
    for a, field, label, logy in panels:
        for k in range(L):
            v = [getattr(r.layers[k], field) for r in result.qualities]
            a.plot(q, v, "o-", color=LAYER_COLORS[k % 5], label=f"layer {k}")
            if field == "contrast_per_column":
                rnd = [r.layers[k].random_contrast / r.layers[k].num_columns for r in result.qualities]
                a.plot(q, rnd, ":", color=LAYER_COLORS[k % 5], lw=0.8)
        if field == "isometry_ratio_median":
            a.axhline(1.0, color="k", lw=0.8, ls="--")
        if logy:
            a.set_yscale("log")
        a.set_xlabel("quality q")
        a.set_ylabel(label)
        a.legend(fontsize=7)
    ax[0, 0].set_title("dotted: Gaussian matrix of the same shape", fontsize=8)
    fig.suptitle(f"{result.model}: {result.num_patches} patches {result.patch_size}x{result.patch_size}, "
                 f"m <= {result.requested_columns} columns, {result.sampling} coordinates", fontsize=10)
    return _save(fig, out)


# -- rate trading -----------------------------------------------------------------------
def rate_trading_figure(result, out: Path) -> Path:
    pts = result.points
    upper = np.array([sum(p.layer_bpp[:-1]) for p in pts])
    bottom = np.array([p.layer_bpp[-1] for p in pts])
    psnr = np.array([p.psnr_db for p in pts])
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.6))
    a = ax[0]
    sc = a.scatter(upper, bottom, c=psnr, cmap="viridis", s=60)
    a.ticklabel_format(useOffset=False)
    for p, u, b in zip(pts, upper, bottom):
        a.annotate("β=" + ",".join(f"{v:g}" for v in p.betas), (u, b), fontsize=7, xytext=(4, 3),
                   textcoords="offset points")
    fig.colorbar(sc, ax=a, label="PSNR (dB)")
    a.set_xlabel("R_top + R_mid (bpp)" if len(pts[0].layer_bpp) == 3 else "rate above the bottom layer (bpp)")
    a.set_ylabel("R_bottom (bpp)")
    a.set_title("distortion over the plane of per-layer rates")
    a = ax[1]
    a.scatter([p.bpp for p in pts], psnr, c=psnr, cmap="viridis", s=40)
    a.set_xlabel("total bpp (table bits)")
    a.set_ylabel("PSNR (dB)")
    a.set_title("rate-distortion of the grid points")
    a = ax[2]
    for p in pts:
        a.plot(np.arange(1, len(p.progressive_psnr_db) + 1), p.progressive_psnr_db, "o-",
               label=",".join(f"{v:g}" for v in p.betas), lw=1)
    a.set_xticks(range(1, len(pts[0].progressive_psnr_db) + 1))
    a.set_xlabel("layers decoded (top first)")
    a.set_ylabel("PSNR (dB)")
    a.set_title("what the top k layers reconstruct")
    a.legend(fontsize=6, title="betas", title_fontsize=7)
    return _save(fig, out)


# -- similarity -------------------------------------------------------------------------
def similarity_figure(table, out: Path) -> Path:
    n_layers, n_cols = len(table.layers), len(table.labels)
    fig, ax = plt.subplots(1, 2, figsize=(2 * (3 + 0.45 * n_cols), 2 + 0.22 * n_layers))
    for a, values, name in ((ax[0], table.cka, "linear CKA"), (ax[1], table.procrustes, "Procrustes")):
        im = a.imshow(np.array(values), vmin=0, vmax=1, cmap="magma", aspect="auto")
        a.set_xticks(range(n_cols), table.labels, rotation=45, ha="right", fontsize=7)
        a.set_yticks(range(n_layers), [("E " if e else "D ") + n for n, e in zip(table.layers, table.encoder)],
                     fontsize=6)
        a.set_title(f"{name} vs {table.reference}", fontsize=9)
        fig.colorbar(im, ax=a)
    return _save(fig, out)


def within_figure(matrix, out: Path) -> Path:
    n = len(matrix.layers)
    fig, a = plt.subplots(figsize=(3 + 0.22 * n, 2.5 + 0.22 * n))
    im = a.imshow(np.array(matrix.cka), vmin=0, vmax=1, cmap="magma")
    a.set_xticks(range(n), matrix.layers, rotation=90, fontsize=6)
    a.set_yticks(range(n), matrix.layers, fontsize=6)
    a.set_title(f"layer x layer linear CKA ({matrix.label})", fontsize=9)
    fig.colorbar(im, ax=a)
    return _save(fig, out)

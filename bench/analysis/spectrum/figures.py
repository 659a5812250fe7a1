"""Figures of this analysis: ``spectrum_q<q>.png``: sorted per-channel bits next to the KLT water-filling rates at
the same bpp; isometric variances var(ŷ)/Δ^2 next to KLT eigenvalues (both normalised to
their sum); cumulative shares; bits spent vs the isometric estimate per image.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import LAYER_COLORS, plt, save_figure
from .stats import cumulative_share


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
    return save_figure(fig, out)


# -- ima --------------------------------------------------------------------------------

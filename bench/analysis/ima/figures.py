"""Figures of this analysis: ``ima.png``: IMA contrast per column, column-norm spread, isometry ratio and
self-consistency against quality, one line per layer.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import LAYER_COLORS, plt, save_figure


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
    return save_figure(fig, out)


# -- rate trading -----------------------------------------------------------------------

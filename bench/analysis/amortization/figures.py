"""Figures of this analysis: ``amortization.png``: the coded loss, bits and PSNR recovered by
refinement against quality; how far each layer's latents moved (rms, in quantization steps) and
the share of its symbols that changed."""
from __future__ import annotations

from pathlib import Path

from ..plotting import LAYER_COLORS, plt, save_figure


def amortization_figure(result, out: Path) -> Path:
    qs = [r.quality for r in result.qualities]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    ax.plot(qs, [100 * r.loss_change for r in result.qualities], marker="o", label="coded loss")
    ax.plot(qs, [100 * r.bpp_change for r in result.qualities], marker="s", label="bits")
    ax.set_xlabel("quality")
    ax.set_ylabel("change with refinement (%)")
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.legend()
    ax2 = ax.twinx()
    ax2.plot(qs, [r.psnr_change_db for r in result.qualities], color="tab:green", marker="^", label="PSNR")
    ax2.set_ylabel("PSNR change (dB)", color="tab:green")
    L = len(result.qualities[0].rms_steps)
    for k in range(L):
        axes[1].plot(qs, [r.rms_steps[k] for r in result.qualities], marker="o", color=LAYER_COLORS[k],
                     label=f"layer {k + 1}")
        axes[2].plot(qs, [100 * r.changed[k] for r in result.qualities], marker="o", color=LAYER_COLORS[k],
                     label=f"layer {k + 1}")
    axes[1].set_ylabel("latents moved, rms (quantization steps)")
    axes[2].set_ylabel("symbols changed (%)")
    for a in axes[1:]:
        a.set_xlabel("quality")
        a.legend()
    fig.suptitle(f"{result.model}: refinement ({result.steps} steps) on {len(result.images)} images "
                 f"({result.crop or 'whole'} px crops)")
    return save_figure(fig, out)

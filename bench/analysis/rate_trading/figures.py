"""Figures of this analysis: ``rate_trading.png``: rates above the bottom layer vs the bottom layer's rate, coloured
by PSNR; PSNR vs bpp; PSNR of the top k layers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import plt, save_figure


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
    return save_figure(fig, out)


# -- similarity -------------------------------------------------------------------------

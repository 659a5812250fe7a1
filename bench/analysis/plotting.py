"""What the analyses' figures share; pyplot comes from :mod:`bench.plots`, the one module that
imports matplotlib (and selects its Agg backend)."""
from __future__ import annotations

from pathlib import Path

from bench.plots import plt  # noqa: F401 - re-exported for the figures

LAYER_COLORS = ("tab:red", "tab:orange", "tab:blue", "tab:green", "tab:purple")


def save_figure(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

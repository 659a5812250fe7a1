"""Figures of this analysis: ``similarity_<kind>.png`` heatmaps (layers x checkpoints / qualities / models) and
``similarity_within.png`` (layer x layer CKA).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import plt, save_figure


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
    return save_figure(fig, out)


def within_figure(matrix, out: Path) -> Path:
    n = len(matrix.layers)
    fig, a = plt.subplots(figsize=(3 + 0.22 * n, 2.5 + 0.22 * n))
    im = a.imshow(np.array(matrix.cka), vmin=0, vmax=1, cmap="magma")
    a.set_xticks(range(n), matrix.layers, rotation=90, fontsize=6)
    a.set_yticks(range(n), matrix.layers, fontsize=6)
    a.set_title(f"layer x layer linear CKA ({matrix.label})", fontsize=9)
    fig.colorbar(im, ax=a)
    return save_figure(fig, out)

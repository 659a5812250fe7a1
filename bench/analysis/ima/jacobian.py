"""Decoder Jacobian columns by forward-mode AD, and what IMA measures on them.

For a decoder ``f: z -> x`` and coordinates ``i_1..i_m`` of ``z``, column ``J_i = ∂x/∂z_i``
is one Jacobian-vector product with the one-hot tangent ``e_i`` (``torch.func.jvp``,
batched over the m tangents with ``vmap``), so the cost is about m forward passes and
never needs the full (P, dim z) Jacobian.

The IMA contrast (Gresele et al. 2021; Reizinger et al., NeurIPS 2022)::

    c_IMA(J) = sum_i log ||J_i|| - 1/2 log det(J^T J)  >= 0     (nats)

is zero iff the columns are orthogonal (Hadamard's inequality) and invariant to scaling
each column. It is computed with a QR decomposition, ``1/2 log det(J^T J) = sum_i log |R_ii|``,
which stays accurate when J^T J is badly conditioned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch.func import jvp, vmap


def jacobian_columns(f: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor,
                     coords: Sequence[int], chunk: int = 64) -> torch.Tensor:
    """Columns of the Jacobian of ``f`` at ``z`` for flat indices ``coords`` of ``z``.

    Returns:
        (P, m) tensor, P = numel(f(z)), one column per coordinate, in the dtype of ``f(z)``.
    """
    coords = torch.as_tensor(np.asarray(coords), dtype=torch.long)
    z = z.detach()
    columns = []
    for start in range(0, len(coords), chunk):
        idx = coords[start : start + chunk]
        tangents = torch.zeros(len(idx), z.numel(), dtype=z.dtype)
        tangents[torch.arange(len(idx)), idx] = 1
        tangents = tangents.reshape(len(idx), *z.shape)
        out = vmap(lambda v: jvp(f, (z,), (v,))[1])(tangents)
        columns.append(out.reshape(len(idx), -1))
    return torch.cat(columns).T.detach()


def ima_contrast(J: torch.Tensor | np.ndarray) -> float:
    """c_IMA of a (P, m) Jacobian with P >= m, in nats; +inf if a column is zero or dependent
    (to float64 rounding: the QR's diagonal at most max(P, m) * eps times the largest column)."""
    J = torch.as_tensor(np.asarray(J) if not torch.is_tensor(J) else J).double()
    norms = J.norm(dim=0)
    r_diag = torch.linalg.qr(J, mode="r").R.diagonal().abs()
    tol = max(J.shape) * torch.finfo(torch.float64).eps * float(norms.max()) if norms.numel() else 0.0
    if bool((norms == 0).any()) or bool((r_diag <= tol).any()):
        return float("inf")
    return float(norms.log().sum() - r_diag.log().sum())


@dataclass(frozen=True)
class ColumnNorms:
    """Spread of the column norms of one Jacobian.

    Attributes:
        mean: mean column norm (output units per latent unit).
        cv: std / mean.
        log_std: std of the natural log of the norms (scale-free).
    """

    mean: float
    cv: float
    log_std: float


def column_norms(J: torch.Tensor) -> ColumnNorms:
    n = J.double().norm(dim=0)
    return ColumnNorms(float(n.mean()), float(n.std(unbiased=False) / n.mean()),
                       float(n.clamp_min(1e-300).log().std(unbiased=False)))


def random_contrast(rows: int, cols: int, seed: int = 0) -> float:
    """c_IMA of an i.i.d. Gaussian (rows, cols) matrix: the contrast of "no structure"
    (about cols^2 / (4 rows) for rows >> cols), a yardstick for measured values."""
    g = torch.Generator().manual_seed(seed)
    return ima_contrast(torch.randn(rows, cols, generator=g, dtype=torch.float64))

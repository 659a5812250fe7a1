"""Representational similarity of two sets of activations of the same n inputs.

Both measures work on the centred Gram matrices ``K = Xc Xc^T`` (n x n), so layers with
hundreds of thousands of features cost no more than small ones:

* linear CKA (Kornblith et al. 2019): ``<K, L>_F / (||K||_F ||L||_F)``;
* orthogonal Procrustes similarity (Ding et al. 2021, as used by Bonheme & Grzes):
  ``max_Q <Xc, Yc Q>_F / (||Xc||_F ||Yc||_F) = ||Xc^T Yc||_* / sqrt(tr K tr L)``, and
  ``||Xc^T Yc||_* = ||K^{1/2} L^{1/2}||_*`` (both equal the nuclear norm of
  ``S_x U_x^T U_y S_y`` from the thin SVDs), so it too needs only the Grams.

Both are 1 for identical representations, invariant to orthogonal transforms and
isotropic scaling of the features, and in [0, 1].
"""
from __future__ import annotations

import numpy as np
import torch


def centered_gram(X: torch.Tensor | np.ndarray) -> torch.Tensor:
    """X: (n, p) features of n inputs -> (n, n) float64 centred Gram ``Xc Xc^T``."""
    X = torch.as_tensor(X).reshape(len(X), -1).double()
    Xc = X - X.mean(dim=0, keepdim=True)
    return Xc @ Xc.T


def cka_from_grams(K: torch.Tensor, L: torch.Tensor) -> float:
    denom = K.norm() * L.norm()
    return float((K * L).sum() / denom) if denom > 0 else float("nan")


def _psd_sqrt(K: torch.Tensor) -> torch.Tensor:
    w, V = torch.linalg.eigh(K)
    return (V * w.clamp_min(0).sqrt()) @ V.T


def procrustes_from_grams(K: torch.Tensor, L: torch.Tensor) -> float:
    denom = torch.sqrt(K.trace() * L.trace())
    if denom <= 0:
        return float("nan")
    nuclear = torch.linalg.svdvals(_psd_sqrt(K) @ _psd_sqrt(L)).sum()
    return float(nuclear / denom)


def linear_cka(X, Y) -> float:
    """X: (n, p), Y: (n, q) -> linear CKA in [0, 1]."""
    return cka_from_grams(centered_gram(X), centered_gram(Y))


def procrustes_similarity(X, Y) -> float:
    """X: (n, p), Y: (n, q) -> orthogonal Procrustes similarity in [0, 1] (1 - d^2 / 2)."""
    return procrustes_from_grams(centered_gram(X), centered_gram(Y))

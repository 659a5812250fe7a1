"""The ``ima`` analysis: is the decoder an isometry with orthogonal columns, per layer and quality?

Reizinger et al. (NeurIPS 2022, "Embrace the gap: VAEs perform independent mechanism
analysis") show that near-deterministic decoders of a VAE have Jacobians with orthogonal
columns (small IMA contrast); Nakagawa et al. (ICML 2021) add that the column norms are
set by the posterior scale: for this codec ``||J_i|| Δ_i = sqrt(6 beta)`` (see
:mod:`bench.analysis.spectrum`). Per quality q and layer k, on image patches:

    z = ŷ_k (codec path)  ─layer_decoder─>  x̂         J: (3 H W, m) at m random coordinates of z
    c_IMA(J), spread of ||J_i||, isometry ratio ||J_i|| Δ_i / sqrt(6 beta)
    self-consistency: z = y (continuous posterior mean), x̃ = clamp(decode(z), 0, 1),
                      ||y(x̃) - z|| / ||z||  and  rms((y(x̃) - z) / Δ)  (in quantization steps)
    symbol agreement: share of symbols unchanged when the decoded image is encoded again.

Coordinates are sampled per patch and layer (the same ones at every quality) either
uniformly over all channels and positions (``"random"``) or as channels at one random
position (``"position"``). Columns of far-apart positions have nearly disjoint supports and
are orthogonal for that reason alone, so ``"random"`` favours the finer layers (more
positions); ``"position"`` asks only whether the channels at one place are unmixed.
The continuous encoder/decoder pair does not involve the quality (steps enter only through
quantization), so ``self_consistency`` is the same at every q; in steps it is not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .jacobian import column_norms, ima_contrast, jacobian_columns, random_contrast
from ..latents import layer_decoder, trace
from ..models import NamedModel, beta_of


@dataclass(frozen=True)
class LayerIma:
    """Layer ``layer`` at one quality, means over patches (contrast in nats).

    Attributes:
        num_columns: Jacobian columns per patch (min of the requested m and the layer's size).
        contrast, contrast_std: c_IMA, mean and std over patches.
        contrast_per_column: contrast / num_columns (comparable across m).
        random_contrast: c_IMA of a Gaussian matrix of the same shape (yardstick).
        norm_cv, log_norm_std: spread of the column norms within a patch.
        isometry_ratio_median, isometry_ratio_log_std: over all sampled columns.
        self_consistency: ||y(x̃) - y|| / ||y|| of the continuous encoder/decoder pair.
        self_consistency_steps: rms of (y(x̃) - y) / Δ.
        symbol_agreement: share of symbols equal after decode -> encode (codec path).
    """

    layer: int
    num_columns: int
    contrast: float
    contrast_std: float
    contrast_per_column: float
    random_contrast: float
    norm_cv: float
    log_norm_std: float
    isometry_ratio_median: float
    isometry_ratio_log_std: float
    self_consistency: float
    self_consistency_steps: float
    symbol_agreement: float


@dataclass(frozen=True)
class QualityIma:
    quality: float
    lmbda: float
    beta: float
    layers: tuple[LayerIma, ...]


@dataclass(frozen=True)
class ImaResult:
    model: str
    dataset: str
    patch_size: int
    num_patches: int
    requested_columns: int
    sampling: str
    qualities: tuple[QualityIma, ...]


@torch.no_grad()
def _consistency(model, x: torch.Tensor, quality: float):
    """Per layer: relative error, error in steps, and symbol agreement (see module doc)."""
    cont, x_tilde = trace(model, x, quality, quantize=False)
    again, _ = trace(model, x_tilde.clamp(0, 1), quality, quantize=False)
    coded, x_hat = trace(model, x, quality, quantize=True)
    recoded, _ = trace(model, x_hat.clamp(0, 1), quality, quantize=True)
    out = []
    for a, b, c, d in zip(cont, again, coded, recoded):
        diff = (b.y - a.y).flatten(1)
        rel = (diff.norm(dim=1) / a.y.flatten(1).norm(dim=1).clamp_min(1e-12)).mean()
        steps = ((b.y - a.y) / a.step).square().mean().sqrt()
        agree = (c.symbols == d.symbols).double().mean()
        out.append((float(rel), float(steps), float(agree)))
    return out


SAMPLINGS = ("random", "position")


def sample_coordinates(shape: tuple[int, ...], m: int, sampling: str, rng: np.random.Generator) -> np.ndarray:
    """Flat indices into a (1, C, h, w) latent: m uniform ones, or min(m, C) channels at one position."""
    _, C, h, w = shape
    if sampling == "random":
        return rng.choice(C * h * w, min(m, C * h * w), replace=False)
    if sampling == "position":
        pos = int(rng.integers(h * w))
        return rng.choice(C, min(m, C), replace=False) * (h * w) + pos
    raise ValueError(f"unknown sampling {sampling!r}; known: {', '.join(SAMPLINGS)}")


def run_ima(named: NamedModel, patches: torch.Tensor, qualities: list[float], num_columns: int = 32,
            seed: int = 0, dataset: str = "", sampling: str = "random", progress=None) -> ImaResult:
    """patches: (N, 3, S, S) in [0, 1], S a multiple of the top stride."""
    model = named.model.float().eval()
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():  # JVPs need no parameter tangents
        p.requires_grad_(False)
    try:
        return _run(named, model, patches, qualities, num_columns, seed, dataset, sampling, progress)
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)


def _run(named, model, patches, qualities, num_columns, seed, dataset, sampling, progress) -> ImaResult:
    L = model.config.num_layers
    results = []
    for q in qualities:
        six_beta_sqrt = math.sqrt(6 * beta_of(model, q))
        per_layer = [{"c": [], "cv": [], "ls": [], "ratio": [], "m": 0} for _ in range(L)]
        for n in range(patches.shape[0]):
            x = patches[n : n + 1]
            layers, _ = trace(model, x, q)
            for k in range(L):
                z = layers[k].y_hat
                rng = np.random.default_rng([seed, n, k])  # same coordinates at every quality
                coords = sample_coordinates(tuple(z.shape), num_columns, sampling, rng)
                m = len(coords)
                J = jacobian_columns(layer_decoder(model, layers, k), z, coords)
                norms = column_norms(J)
                channel = coords // (z.shape[2] * z.shape[3])
                step = layers[k].step[0, channel, 0, 0].double()
                acc = per_layer[k]
                acc["m"] = m
                acc["c"].append(ima_contrast(J))
                acc["cv"].append(norms.cv)
                acc["ls"].append(norms.log_std)
                acc["ratio"] += (J.double().norm(dim=0) * step / six_beta_sqrt).tolist()
        consistency = _consistency(model, patches, q)
        layer_results = []
        for k, acc in enumerate(per_layer):
            c = np.array(acc["c"])
            ratio = np.maximum(np.array(acc["ratio"]), 1e-300)
            P = patches[0].numel()
            layer_results.append(LayerIma(
                k, acc["m"], float(c.mean()), float(c.std()), float(c.mean() / acc["m"]),
                random_contrast(P, acc["m"], seed), float(np.mean(acc["cv"])), float(np.mean(acc["ls"])),
                float(np.median(ratio)), float(np.log(ratio).std()), *consistency[k]))
        lmbda = float(model.lmbda(torch.tensor([float(q)], dtype=torch.float64))[0])
        results.append(QualityIma(q, lmbda, beta_of(model, q), tuple(layer_results)))
        if progress:
            progress(f"q={q:g}: c_IMA per layer " + ", ".join(f"{r.contrast:.2f}" for r in layer_results))
    return ImaResult(named.name, dataset, int(patches.shape[-1]), int(patches.shape[0]), num_columns,
                     sampling, tuple(results))

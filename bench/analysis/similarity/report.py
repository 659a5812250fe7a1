"""The ``similarity`` analysis: which layers change between checkpoints, qualities, models.

::

    fixed crops ─probe─> Probe (centred Gram per layer) for each (model, quality)
        ├─ training: checkpoints of one run, each vs the last    -> table layers x checkpoints
        ├─ quality:  one variable-rate model at q = 1..Q vs q = Q -> table layers x qualities
        ├─ models:   several models (e.g. rate-trading betas) vs the first
        └─ within:   layer x layer CKA inside the reference model (encoder vs decoder blocks)

Bonheme & Grzes ("How do variational autoencoders learn? Insights from representational
similarity", 2022) report that encoder representations settle early in training while
decoders keep changing; the training table tests that on this codec (encoder layers:
g_a, down; the rest are decoder and prior).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .activations import Probe, common_layers, is_encoder, probe
from ..models import NamedModel
from .cka import cka_from_grams, procrustes_from_grams


@dataclass(frozen=True)
class SimilarityTable:
    """Similarity of each layer to the same layer of a reference probe.

    Attributes:
        kind: "training", "quality" or "models".
        reference: label of the reference probe.
        labels: one per compared probe (columns).
        layers: layer names (rows), execution order.
        encoder: per layer, True for encoder layers.
        cka, procrustes: (layers, labels) nested tuples in [0, 1].
        mean_cka_encoder, mean_cka_decoder: per column, means over the two groups (NaN
            entries, from layers with constant activations, left out).
    """

    kind: str
    reference: str
    labels: tuple[str, ...]
    layers: tuple[str, ...]
    encoder: tuple[bool, ...]
    cka: tuple[tuple[float, ...], ...]
    procrustes: tuple[tuple[float, ...], ...]
    mean_cka_encoder: tuple[float, ...]
    mean_cka_decoder: tuple[float, ...]


@dataclass(frozen=True)
class LayerMatrix:
    """Layer x layer linear CKA inside one probe."""

    label: str
    layers: tuple[str, ...]
    cka: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class SimilarityResult:
    dataset: str
    num_crops: int
    crop_size: int
    tables: tuple[SimilarityTable, ...]
    within: LayerMatrix | None


def compare(kind: str, probes: list[Probe], reference: Probe) -> SimilarityTable:
    layers = common_layers(probes + [reference])
    cka = np.array([[cka_from_grams(p.gram(n), reference.gram(n)) for p in probes] for n in layers])
    proc = np.array([[procrustes_from_grams(p.gram(n), reference.gram(n)) for p in probes] for n in layers])
    enc = np.array([is_encoder(n) for n in layers])

    def group_mean(mask):
        # nan (a constant layer, e.g. an all-zero latent of an untrained model) is left out
        if not mask.any():
            return ()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return tuple(float(v) for v in np.nanmean(cka[mask], 0))

    return SimilarityTable(kind, reference.label, tuple(p.label for p in probes), layers,
                           tuple(bool(e) for e in enc), _nested(cka), _nested(proc),
                           group_mean(enc), group_mean(~enc))


def within(p: Probe) -> LayerMatrix:
    n = len(p.layers)
    m = np.ones((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            m[i, j] = m[j, i] = cka_from_grams(p.grams[i], p.grams[j])
    return LayerMatrix(p.label, p.layers, _nested(m))


def _nested(a: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in a)


def default_quality(named: NamedModel, quality: float | None) -> float:
    """A requested quality clipped to the model's range (single-lambda models have Q = 1)."""
    Q = named.model.config.num_qualities
    return float(min(max(quality or (1 + (Q - 1) // 2), 1), Q))


def run_similarity(x: torch.Tensor, dataset: str, quality_model: NamedModel | None = None,
                   qualities: list[float] = (), checkpoints: list[NamedModel] = (),
                   models: list[NamedModel] = (), quality: float | None = None,
                   progress=None) -> SimilarityResult:
    """x: (n, 3, S, S) fixed crops shared by every probe.

    Args:
        quality_model, qualities: the quality table (reference: the last quality).
        checkpoints: the training table, oldest first (reference: the last).
        models: the models table (reference: the first).
        quality: the quality for checkpoints and models (default: the middle anchor).
    """
    tables, reference = [], None
    if checkpoints:
        probes = [probe(c.model, x, default_quality(c, quality),
                        f"step {c.step}" if c.step is not None else c.label) for c in checkpoints]
        tables.append(compare("training", probes, probes[-1]))
        reference = probes[-1]
        if progress:
            progress(f"training: {len(probes)} checkpoints probed")
    if models:
        probes = [probe(m.model, x, default_quality(m, quality), m.label) for m in models]
        tables.append(compare("models", probes, probes[0]))
        reference = reference or probes[0]
        if progress:
            progress(f"models: {len(probes)} models probed")
    if quality_model is not None and qualities:
        probes = [probe(quality_model.model, x, q, f"q={q:g}") for q in qualities]
        tables.append(compare("quality", probes, probes[-1]))
        reference = probes[-1] if reference is None else reference
        if progress:
            progress(f"quality: {len(probes)} qualities probed")
    return SimilarityResult(dataset, int(x.shape[0]), int(x.shape[-1]), tuple(tables),
                            within(reference) if reference is not None else None)

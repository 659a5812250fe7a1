"""bench.analysis.similarity (cka, activations, report): CKA and Procrustes with known answers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.analysis.similarity.activations import ENCODER_PARTS, probe
from bench.analysis.models import NamedModel
from bench.analysis.similarity.cka import (centered_gram, cka_from_grams, linear_cka, procrustes_from_grams,
                                       procrustes_similarity)
from bench.analysis.similarity.report import run_similarity
from conftest import natural_image
from test_analysis_models import lively_tiny


def _random_orthogonal(n: int, rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


@pytest.fixture()
def features():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 12)) @ rng.normal(size=(12, 12))  # correlated features
    return X, rng


@pytest.mark.parametrize("measure", [linear_cka, procrustes_similarity])
def test_self_similarity_is_one_and_invariant(features, measure):
    X, rng = features
    assert measure(X, X) == pytest.approx(1.0, abs=1e-10)
    Q = _random_orthogonal(X.shape[1], rng)
    assert measure(X, 3.7 * X @ Q) == pytest.approx(1.0, abs=1e-9)   # orthogonal + isotropic scaling
    assert measure(X, X + 5.0) == pytest.approx(1.0, abs=1e-9)       # centring
    Y = rng.normal(size=X.shape)
    assert 0.0 <= measure(X, Y) < 0.9
    # Not invariant to anisotropic scaling: stretching one feature changes the representation.
    assert measure(X, X * np.r_[100.0, np.ones(X.shape[1] - 1)]) < 0.99


def test_gram_formulas_match_feature_space_formulas(features):
    X, rng = features
    Y = X @ rng.normal(size=(12, 7)) + 0.5 * rng.normal(size=(40, 7))
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    cka = np.linalg.norm(Yc.T @ Xc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))
    proc = np.linalg.svd(Xc.T @ Yc, compute_uv=False).sum() / (np.linalg.norm(Xc) * np.linalg.norm(Yc))
    assert linear_cka(X, Y) == pytest.approx(cka, rel=1e-9)
    assert procrustes_similarity(X, Y) == pytest.approx(proc, rel=1e-7)
    # Many more features than inputs: the Gram route needs only n x n matrices.
    wide = rng.normal(size=(10, 5000))
    K = centered_gram(wide)
    assert K.shape == (10, 10)
    assert cka_from_grams(K, K) == pytest.approx(1.0)
    assert procrustes_from_grams(K, K) == pytest.approx(1.0, abs=1e-9)


@pytest.fixture(scope="module")
def tiny_named():
    return NamedModel("tiny", lively_tiny(0))


@pytest.fixture(scope="module")
def crops():
    imgs = [natural_image(64, 64, seed=s) for s in range(6)]
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255


def test_probe_hooks_every_conv_and_gdn_in_execution_order(tiny_named, crops):
    p = probe(tiny_named.model, crops, 4.0, "q=4")
    parts = {name.split(".")[0] for name in p.layers}
    assert parts == {"g_a", "down", "top_expand", "up", "prior", "merge", "g_s"}
    assert p.layers[0] == "g_a.0" and p.layers[-1].startswith("g_s.")
    # 4 convs + 3 GDNs in g_a and g_s (base stride 16), 3 convs per down block, 2 top_expand,
    # per lower layer: up deconv, 2 prior, 2 merge convs (none for the finest: it feeds g_s).
    assert len(p.layers) == 7 + 2 * 3 + 2 + (1 + 2 + 2) + (1 + 2) + 7
    assert all(g.shape == (6, 6) for g in p.grams)


def test_bottom_up_encoder_is_the_same_at_every_quality(tiny_named, crops):
    result = run_similarity(crops, "synthetic", tiny_named, [1.0, 8.0])
    table = result.tables[0]
    assert table.kind == "quality" and table.labels == ("q=1", "q=8")
    for name, row in zip(table.layers, table.cka):
        if name.split(".")[0] in ("g_a", "down"):  # quality enters only after the encoder
            assert row == pytest.approx((1.0, 1.0), abs=1e-9)
    assert all(name.split(".")[0] in ENCODER_PARTS for name, e in zip(table.layers, table.encoder) if e)
    assert result.within is not None and len(result.within.cka) == len(result.within.layers)


def test_training_table_against_last_checkpoint(tiny_named, crops):
    other = NamedModel("b", lively_tiny(1), step=5)
    last = NamedModel("a", tiny_named.model, step=10)
    result = run_similarity(crops, "synthetic", checkpoints=[last, other])  # sorted by the caller
    table = result.tables[0]
    assert table.kind == "training" and table.reference == "step 5"
    cka = np.array(table.cka)
    assert np.isfinite(cka).all()
    assert cka[:, -1] == pytest.approx(1.0)  # the reference against itself
    assert (cka[:, 0] < 1 - 1e-6).all()      # independently initialised weights differ everywhere
    assert len(table.mean_cka_encoder) == len(table.mean_cka_decoder) == 2

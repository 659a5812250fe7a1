"""bench.analysis.ima (jacobian, report) and latents: IMA contrast and JVP Jacobians with known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.analysis.ima.report import run_ima, sample_coordinates
from bench.analysis.ima.jacobian import column_norms, ima_contrast, jacobian_columns, random_contrast
from bench.analysis.latents import decode_latents, layer_decoder, trace
from bench.analysis.models import NamedModel
from conftest import natural_image
from test_analysis_models import lively_tiny


def _orthonormal(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(rows, cols)))
    return q


def test_contrast_is_zero_for_orthogonal_columns_of_any_scale():
    Q = _orthonormal(50, 8)
    assert ima_contrast(Q) == pytest.approx(0.0, abs=1e-12)
    scales = np.array([1e-3, 0.1, 1, 2, 5, 30, 1e3, 7])
    assert ima_contrast(Q * scales) == pytest.approx(0.0, abs=1e-10)


def test_contrast_is_positive_scale_invariant_and_matches_the_determinant():
    rng = np.random.default_rng(1)
    J = _orthonormal(50, 6) @ (np.eye(6) + 0.4 * rng.normal(size=(6, 6)))  # mixed columns
    c = ima_contrast(J)
    direct = np.log(np.linalg.norm(J, axis=0)).sum() - 0.5 * np.linalg.slogdet(J.T @ J)[1]
    assert c > 0.05 and c == pytest.approx(direct, rel=1e-9)
    assert ima_contrast(J * rng.uniform(0.1, 10, size=6)) == pytest.approx(c, rel=1e-9)
    # Two columns at angle a: c = -log sin(a).
    a = 0.3
    assert ima_contrast(np.array([[1, math.cos(a)], [0, math.sin(a)], [0, 0]])) == pytest.approx(-math.log(math.sin(a)))
    assert ima_contrast(np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]])) == math.inf  # dependent columns


def test_column_norm_spread_and_random_yardstick():
    n = column_norms(torch.tensor(_orthonormal(20, 4) * np.array([1, 2, 3, 4])))
    assert n.mean == pytest.approx(2.5) and n.cv == pytest.approx(np.std([1, 2, 3, 4]) / 2.5)
    assert n.log_std == pytest.approx(np.std(np.log([1, 2, 3, 4])))
    rows, cols = 20000, 20
    assert random_contrast(rows, cols) == pytest.approx(cols * (cols - 1) / (4 * rows), rel=0.4)


@pytest.fixture(scope="module")
def tiny_double():
    return lively_tiny(0).double()


@pytest.fixture(scope="module")
def patch():
    return torch.from_numpy(natural_image(64, 64, seed=2)).permute(2, 0, 1)[None].double() / 255


@pytest.mark.parametrize("k", [0, 1, 2])
def test_jvp_columns_match_finite_differences(tiny_double, patch, k):
    layers, x_hat = trace(tiny_double, patch, 4.0)
    f = layer_decoder(tiny_double, layers, k)
    z = layers[k].y_hat
    with torch.no_grad():
        assert torch.allclose(f(z), x_hat, atol=1e-10)  # the layer decoder reproduces the codec's x_hat
    coords = np.random.default_rng(k).choice(z.numel(), min(5, z.numel()), replace=False)
    J = jacobian_columns(f, z, coords, chunk=2)
    assert J.shape == (patch.numel(), len(coords))
    eps = 1e-4  # central differences: truncation ~eps^2; smaller eps loses to roundoff (x ~ 0.5, J ~ 1e-3)
    with torch.no_grad():
        for col, i in enumerate(coords):
            e = torch.zeros(z.numel(), dtype=z.dtype)
            e[i] = eps
            e = e.reshape(z.shape)
            fd = ((f(z + e) - f(z - e)) / (2 * eps)).flatten()
            # relative agreement, plus the roundoff floor of the differences (~1e-16 / eps)
            assert float((J[:, col] - fd).abs().max()) <= 1e-6 * float(fd.abs().max()) + 1e-11


def test_continuous_decode_matches_trace(tiny_double, patch):
    layers, x_tilde = trace(tiny_double, patch, 4.0, quantize=False)
    with torch.no_grad():
        assert torch.allclose(decode_latents(tiny_double, [l.y for l in layers]), x_tilde, atol=1e-12)
    assert all(torch.equal(l.y, l.y_hat) for l in layers)


def test_coordinate_sampling():
    rng = np.random.default_rng(0)
    flat = sample_coordinates((1, 6, 4, 5), 10, "random", rng)
    assert len(set(flat)) == 10 and flat.max() < 120
    flat = sample_coordinates((1, 6, 4, 5), 10, "position", rng)
    assert len(flat) == 6 and len(set(flat % 20)) == 1 and sorted(flat // 20) == list(range(6))
    with pytest.raises(ValueError):
        sample_coordinates((1, 6, 4, 5), 3, "grid", rng)


def test_run_ima_on_tiny_model():
    crops = torch.from_numpy(np.stack([natural_image(64, 64, seed=s) for s in range(2)])).permute(0, 3, 1, 2)
    result = run_ima(NamedModel("tiny", lively_tiny(0)), crops.float() / 255, [1.0, 8.0], num_columns=6)
    assert [r.quality for r in result.qualities] == [1.0, 8.0]
    for r in result.qualities:
        assert r.beta > 0 and len(r.layers) == 3
        assert r.layers[0].num_columns == 4  # the top layer of a 64x64 patch has 4 channels x 1 x 1
        for layer in r.layers:
            assert layer.contrast >= -1e-9 and math.isfinite(layer.contrast)
            assert 0 <= layer.symbol_agreement <= 1 and layer.self_consistency >= 0
            assert layer.isometry_ratio_median > 0

"""bench.analysis.spectrum (measure, klt, stats, report): known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.analysis.spectrum.klt import klt_eigenvalues, waterfill
from bench.analysis.latents import trace
from bench.analysis.models import NamedModel
from bench.analysis.spectrum.stats import components_for, concentration, cumulative_share, pearson, spearman
from bench.analysis.spectrum.measure import gaussian_isometric_bits, measure, top_isometric_bits
from bench.analysis.spectrum.report import run_spectrum
from bench.klt_basis import from_blocks
from codec.latent_codec import LatentCoder
from conftest import natural_image
from test_analysis_models import lively_tiny


def test_klt_of_gaussian_blocks_recovers_the_covariance_eigenvalues():
    rng = np.random.default_rng(0)
    block, D = 2, 12
    eig = np.array([400, 200, 90, 40, 20, 12, 8, 5, 3, 2, 1, 0.5])
    V, _ = np.linalg.qr(rng.normal(size=(D, D)))
    n_side = 150
    blocks = 128 + rng.normal(size=(n_side * n_side, D)) @ (V * np.sqrt(eig)).T
    image = from_blocks(blocks, block, n_side * block, n_side * block)
    found = klt_eigenvalues([image], block)
    assert found.shape == (D,) and np.all(np.diff(found) <= 0)
    assert found == pytest.approx(eig, rel=0.06)  # sampling error ~ sqrt(2 / 22500) ~ 1%


def test_waterfill_known_case():
    theta, rates = waterfill(np.array([16.0, 4.0, 1.0, 0.25]), 3.0)
    assert theta == pytest.approx(1.0, rel=1e-9)
    assert rates == pytest.approx([2.0, 1.0, 0.0, 0.0], abs=1e-9)
    assert waterfill(np.array([1.0, 1.0]), 0.0)[1] == pytest.approx([0, 0])
    # Large rates: every component active, equal distortion.
    theta, rates = waterfill(np.array([4.0, 1.0]), 10.0)
    assert rates.sum() == pytest.approx(10.0) and rates[0] - rates[1] == pytest.approx(1.0)


def test_concentration_and_rank_correlation():
    v = np.array([1.0, 5.0, 1.0, 3.0])
    assert cumulative_share(v) == pytest.approx([0.5, 0.8, 0.9, 1.0])
    assert concentration(v) == {"50%": 1, "90%": 3, "99%": 4}
    assert components_for(np.zeros(3), 0.9) == 0
    x = np.random.default_rng(1).normal(size=50)
    assert spearman(x, np.exp(3 * x)) == pytest.approx(1.0)
    assert pearson(x, -2 * x) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1.0)  # ties


@pytest.fixture(scope="module")
def tiny():
    return lively_tiny(0)


@pytest.fixture(scope="module")
def images():
    return [(f"img{s}.png", natural_image(64, 128, seed=s)) for s in range(3)]


def test_top_density_integrates_to_one(tiny):
    v = torch.linspace(-300, 300, 60001, dtype=torch.float64)
    C = tiny.config.latent_channels[0]
    y = v.reshape(1, 1, 1, -1).expand(1, C, 1, -1)
    pdf = torch.exp2(-top_isometric_bits(tiny, y))[0, :, 0]
    assert (pdf.sum(-1) * (v[1] - v[0])).numpy() == pytest.approx(np.ones(C), abs=1e-3)


def test_gaussian_isometric_bits_is_the_density_in_symbol_units(tiny, images):
    x = torch.from_numpy(images[0][1]).permute(2, 0, 1)[None].float() / 255
    layers, _ = trace(tiny, x, 4.0)
    layer = layers[2]
    bits = gaussian_isometric_bits(layer)
    y, mu, sigma = layer.y.double(), layer.mu.double(), layer.sigma.double().clamp_min(0.11 * layer.step.double())
    log_density = torch.distributions.Normal(mu, sigma).log_prob(y)  # log domain: no underflow
    expected = -log_density / math.log(2) - torch.log2(layer.step.double())  # -log2 p(y) - log2 Δ
    assert torch.allclose(bits, expected, rtol=1e-7, atol=1e-9)


def test_per_channel_bits_add_up_to_the_coder_bits(tiny, images):
    coder = LatentCoder(tiny)
    channels, per_image = measure(tiny, images, 4.0, coder)
    assert len(channels) == sum(tiny.config.latent_channels)
    expected = np.array([coder.layer_bits(coder.encode(
        torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255, 4.0))[0] for _, im in images])
    per_layer = [sum(c.bits_per_image for c in channels if c.layer == k) for k in range(3)]
    assert per_layer == pytest.approx(expected.mean(0), rel=1e-12)
    assert [i.bits for i in per_image] == pytest.approx(expected.sum(1), rel=1e-12)
    assert all(c.step == 1.0 for c in channels if c.layer == 0)
    assert all(c.var_y_hat >= 0 and c.mean_prior_scale > 0 for c in channels)


def test_run_spectrum_summary(tiny, images):
    result = run_spectrum(NamedModel("tiny", tiny), images, [2.0, 7.0], "synthetic")
    assert len(result.klt_eigenvalues) == 192
    lo, hi = result.qualities
    assert lo.summary.bpp < hi.summary.bpp
    for qs in result.qualities:
        s = qs.summary
        assert s.rate_channels["50%"] <= s.rate_channels["90%"] <= s.rate_channels["99%"] <= s.num_channels == 18
        assert sum(qs.klt_waterfill_bits_per_block) == pytest.approx(s.bpp * 64, rel=1e-6)

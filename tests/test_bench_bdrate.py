"""bench.bdrate against textbook cases and an independent implementation."""
import math

import numpy as np
import pytest

from bench.bdrate import METHODS, bd_psnr, bd_rate

RATE = np.array([0.12, 0.25, 0.5, 0.9, 1.6, 2.4])
PSNR = np.array([26.0, 28.4, 31.1, 33.8, 36.9, 39.2])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("saving", [0.05, 0.2, 0.42])
def test_curve_shifted_in_rate_gives_exactly_that_shift(method, saving):
    test_rate = RATE * (1 - saving)
    assert bd_rate(RATE, PSNR, test_rate, PSNR, method) == pytest.approx(-100 * saving, abs=1e-6)
    # Swapping anchor and test inverts the rate ratio.
    assert bd_rate(test_rate, PSNR, RATE, PSNR, method) == pytest.approx(100 * saving / (1 - saving), abs=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_curve_shifted_in_psnr_gives_that_bd_psnr(method):
    assert bd_psnr(RATE, PSNR, RATE, PSNR + 0.7, method) == pytest.approx(0.7, abs=1e-9)
    assert bd_psnr(RATE, PSNR, RATE, PSNR - 1.3, method) == pytest.approx(-1.3, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_identical_curves_and_point_order(method):
    assert bd_rate(RATE, PSNR, RATE, PSNR, method) == pytest.approx(0.0, abs=1e-12)
    order = np.array([3, 0, 5, 1, 4, 2])
    shuffled = bd_rate(RATE[order], PSNR[order], RATE * 0.9, PSNR, method)
    assert shuffled == pytest.approx(-10.0, abs=1e-6)


# x265 preset comparison shipped with FAU-LMS/bjontegaard (whose PCHIP matches the JCT-VC
# CTC Excel sheet); expected values computed with bjontegaard 1.3.0 (pip), not copied code.
FAU_ANCHOR = ([9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851])
FAU_TEST = ([9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987])
FAU_EXPECTED = {"cubic": (-4.420462706125383, 0.12040941911451103),
                "pchip": (-4.417485350589045, 0.11969278542479489)}


@pytest.mark.parametrize("method", METHODS)
def test_matches_published_example(method):
    rate, psnr = FAU_EXPECTED[method]
    assert bd_rate(*FAU_ANCHOR, *FAU_TEST, method) == pytest.approx(rate, abs=1e-6)
    assert bd_psnr(*FAU_ANCHOR, *FAU_TEST, method) == pytest.approx(psnr, abs=1e-6)


def test_no_overlap_is_nan_and_bad_method_raises():
    assert math.isnan(bd_rate(RATE, PSNR, RATE, PSNR + 50))
    with pytest.raises(ValueError):
        bd_rate(RATE, PSNR, RATE, PSNR, method="linear")


def test_single_point_codec_is_compared_at_equal_rate_and_equal_psnr():
    from bench.report import bd_report
    from bench.summary import Curve

    # PSNR = 30 + 10 log10(bpp): at 0.5 bpp the curve gives 26.99 dB; 30 dB needs 1 bpp.
    bpps = (0.25, 0.5, 1.0, 2.0)
    jpeg = Curve("jpeg", "", "measured", bpps, tuple(30 + 10 * np.log10(b) for b in bpps))
    peer = Curve("peer", "", "measured", (0.5,), (30.0,))
    report = bd_report([jpeg, peer], "toy")
    row = next(line for line in report.splitlines() if line.startswith("| peer | 0.500"))
    # log-linear interpolation is exact here: PSNR is linear in log bpp
    assert "| jpeg | 26.99 (-3.01) | 1.000 (+100.0%) |" in row
    assert "| peer | n/a |" in report  # BD-rate of a single point is undefined

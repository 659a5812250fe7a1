"""Bjontegaard delta metrics between two rate-distortion curves (VCEG-M33, 2001).

BD-rate: fit log(rate) as a function of PSNR for each curve, integrate both over the
PSNR interval where the curves overlap, and turn the mean log difference into a percent:
negative means the test codec needs fewer bits than the anchor at equal PSNR.
BD-PSNR: the same with PSNR as a function of log(rate), in dB; positive means better.

Two interpolations:
- ``"cubic"``: Bjontegaard's least-squares cubic polynomial (exact through 4 points);
- ``"pchip"``: piecewise cubic Hermite, as in the JCT-VC / JVET common-test-condition
  spreadsheets (JCTVC-L1100), monotone and stable for curves with many points.

Rates may be in any unit (bpp here); only ratios matter.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.interpolate import PchipInterpolator

METHODS = ("cubic", "pchip")


def _prepared(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Finite points, sorted by x, duplicates of x averaged."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    xs, inverse = np.unique(x[keep], return_inverse=True)
    ys = np.bincount(inverse, weights=y[keep]) / np.bincount(inverse)
    return xs, ys


def _mean_over(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Mean of the interpolant of y(x) over [lo, hi]."""
    if method == "cubic":
        coefficients = np.polyfit(x, y, min(3, len(x) - 1))
        integral = np.polyint(coefficients)
        return (np.polyval(integral, hi) - np.polyval(integral, lo)) / (hi - lo)
    if method == "pchip":
        return float(PchipInterpolator(x, y).integrate(lo, hi)) / (hi - lo)
    raise ValueError(f"method must be one of {METHODS}, not {method!r}")


def _delta(x_anchor, y_anchor, x_test, y_test, method: str) -> float:
    """Mean of (test - anchor) over the overlap of the x ranges; NaN without overlap."""
    xa, ya = _prepared(x_anchor, y_anchor)
    xt, yt = _prepared(x_test, y_test)
    if len(xa) < 2 or len(xt) < 2:
        return math.nan
    lo, hi = max(xa[0], xt[0]), min(xa[-1], xt[-1])
    if not hi > lo:
        return math.nan
    return _mean_over(xt, yt, lo, hi, method) - _mean_over(xa, ya, lo, hi, method)


def bd_rate(rate_anchor, psnr_anchor, rate_test, psnr_test, method: str = "cubic") -> float:
    """Mean rate difference of test vs anchor at equal PSNR, in percent."""
    log_ratio = _delta(psnr_anchor, np.log(rate_anchor), psnr_test, np.log(rate_test), method)
    return 100.0 * math.expm1(log_ratio) if math.isfinite(log_ratio) else math.nan


def bd_psnr(rate_anchor, psnr_anchor, rate_test, psnr_test, method: str = "cubic") -> float:
    """Mean PSNR difference of test vs anchor at equal rate, in dB."""
    return _delta(np.log(rate_anchor), psnr_anchor, np.log(rate_test), psnr_test, method)

"""Deterministic entropy parameters: snapping and the coding tables.

The encoder and the decoder must compute bit-identical probabilities, or the ANS
decoder silently returns garbage (CompressAI #279, tensorflow-compression #44). So
the top-down path that produces the parameters runs on the CPU in float64, and its
outputs are snapped to coarse grids:

* prior means ``mu`` to multiples of ``MU_GRID`` (then ``y_hat = mu + r * step`` is
  computed from snapped values);
* stds (in symbol units) to one of ``NUM_SCALES`` log-spaced levels, whose tables are
  built once at load time.

A float64 difference of ~1e-15 between two runs (thread count, batch size) changes a
snapped value only if it lies within ~1e-15 of a grid boundary, about 1e-13 per symbol.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .ans import Table, TableCoder, quantize_pmf
from .entropy_models import SCALE_MIN, FactorizedDensity

MU_GRID = 1 / 256
SCALE_MAX = 64.0
NUM_SCALES = 96
TOP_RADIUS = 127  # top-layer tables cover [-127, 127]; values beyond are escaped

_LOG_MIN = math.log(SCALE_MIN)
_LOG_STEP = (math.log(SCALE_MAX) - _LOG_MIN) / (NUM_SCALES - 1)


def scale_levels() -> np.ndarray:
    """The std of each scale index, float64, (NUM_SCALES,)."""
    return np.exp(_LOG_MIN + _LOG_STEP * np.arange(NUM_SCALES))


def snap_mu(mu: torch.Tensor) -> torch.Tensor:
    return (mu / MU_GRID).round_().mul_(MU_GRID)  # round(mu / grid) * grid, in one copy


def scale_index(scale: torch.Tensor) -> torch.Tensor:
    """Nearest level (in log space) of each std; int64, same shape."""
    # round((log(max(scale, 1e-30)) - LOG_MIN) / LOG_STEP), clamped, in one float copy
    pos = scale.clamp_min(1e-30).log_().sub_(_LOG_MIN).div_(_LOG_STEP)
    return pos.round_().clamp_(0, NUM_SCALES - 1).long()


def gaussian_radius(scale: float) -> int:
    return int(math.ceil(12 * scale)) + 3


def gaussian_coder() -> TableCoder:
    """One table per scale level: a unit-bin discretized N(0, s) on [-R(s), R(s)] (escapes beyond)."""
    tables = []
    for s in scale_levels():
        R = gaussian_radius(s)
        v = torch.arange(-R, R + 1, dtype=torch.float64)
        upper = torch.special.ndtr((0.5 - v.abs()) / s)
        lower = torch.special.ndtr((-0.5 - v.abs()) / s)
        tables.append(Table(quantize_pmf((upper - lower).numpy()), -R))
    return TableCoder(tables)


def factorized_coder(density: FactorizedDensity) -> TableCoder:
    """One table per channel of the top layer, on [-TOP_RADIUS, TOP_RADIUS]."""
    pmf = density.pmf_table(TOP_RADIUS).numpy()
    return TableCoder([Table(quantize_pmf(row), -TOP_RADIUS) for row in pmf])

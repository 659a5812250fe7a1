"""Refine each image's latents (``codec.refine``) and measure, per quality and layer, how far
the kept features moved (rms in units of the layer's quantization step; 1 for the top layer),
the share of symbols that changed, and the change of the coded loss, bits and PSNR."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from codec.api import Codec
from codec.images import to_tensor
from codec.refine import Effort, coded_stats, refine

from ..models import NamedModel


@dataclass(frozen=True)
class QualityGap:
    quality: float
    loss_change: float  # mean relative change of the coded loss (refined / effort 0 - 1)
    bpp_change: float  # relative change of the mean bits
    psnr_change_db: float
    rms_steps: tuple[float, ...]  # per layer, top first
    changed: tuple[float, ...]  # share of symbols changed, per layer
    best_steps: tuple[int, ...]  # the kept iterate's step, per image


@dataclass(frozen=True)
class AmortizationResult:
    model: str
    dataset: str
    images: tuple[str, ...]
    crop: int
    steps: int
    qualities: tuple[QualityGap, ...]


def _crop(image: np.ndarray, size: int) -> np.ndarray:
    if not size:
        return image
    h, w = image.shape[:2]
    s = min(size, h, w)
    return image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]


def _bits_psnr(coder, layers, x, h, w, q) -> tuple[float, float]:
    bits, mse = coded_stats(coder, layers, x, h, w, q)
    return bits, 10 * math.log10(255.0**2 / max(mse, 1e-10))


def run_amortization(named: NamedModel, images: list[tuple[str, np.ndarray]], qualities: list[float], crop: int,
                     steps: int, dataset: str, progress: Callable[[str], None] = print) -> AmortizationResult:
    c = Codec.from_model(named.model, named.name)
    coder = c._coder
    effort = Effort(steps=steps, seconds=0)
    rows = []
    for q in qualities:
        losses, bits0, bits1, psnr0, psnr1, best = [], [], [], [], [], []
        moved = [[] for _ in range(c.num_layers)]
        changed = [[] for _ in range(c.num_layers)]
        qq = torch.full((1,), float(q))
        for name, image in images:
            image = _crop(image, crop)
            h, w = image.shape[:2]
            x = to_tensor([image], c.config.pad_multiple)
            r = refine(coder, x, h, w, q, effort)
            plain = coder.encode(x, q)
            start = coder.analyze(x)
            for k in range(c.num_layers):
                unit = 1.0 if k == 0 else coder.model.log_step(k, qq).exp()
                moved[k].append(float((((r.features[k] - start[k]) / unit) ** 2).mean()))
                changed[k].append(float(np.mean(r.layers[k].values != plain[k].values)))
            b0, p0 = _bits_psnr(coder, plain, x, h, w, q)
            b1, p1 = _bits_psnr(coder, r.layers, x, h, w, q)
            losses.append(r.loss / r.loss_effort0 - 1)
            bits0.append(b0), bits1.append(b1), psnr0.append(p0), psnr1.append(p1), best.append(r.step)
            progress(f"q={q:g} {name}: coded loss {100 * losses[-1]:+.2f}% (kept step {r.step})")
        rows.append(QualityGap(float(q), float(np.mean(losses)), float(np.sum(bits1) / np.sum(bits0) - 1),
                               float(np.mean(psnr1) - np.mean(psnr0)),
                               tuple(float(np.sqrt(np.mean(m))) for m in moved),
                               tuple(float(np.mean(v)) for v in changed), tuple(best)))
    return AmortizationResult(named.name, dataset, tuple(n for n, _ in images), crop, steps, tuple(rows))

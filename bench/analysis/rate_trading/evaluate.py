"""Evaluate rate-trading runs: coded bits per layer, PSNR, and what the top k layers alone give.

For each run's checkpoint and fixed evaluation crops, the codec's own coding path
(:class:`codec.latent_codec.LatentCoder`) gives the symbols and their table bits per
layer (what the ANS coder spends, container excluded); ``reconstruct`` with the layers
below k set to symbol 0 (their prior means, as a file cut after layer k decodes) gives
the progressive reconstructions. PSNR is on 8-bit RGB (x̂ rounded to 0..255), per crop,
averaged over crops. Results are cached per run in ``eval.json``, keyed by the
checkpoint step, the evaluation inputs and the file format version (the coding path).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np
import torch

from codec.container import VERSION as FORMAT_VERSION
from codec.latent_codec import LatentCoder, LayerSymbols
from codec.metrics import psnr_db

from ..models import load_checkpoint
from .train import TrainedPoint, last_log


@dataclass(frozen=True)
class PointResult:
    """One grid point on the evaluation crops (bits per pixel and dB, means over crops).

    Attributes:
        betas: per-layer rate weights, top first.
        step: training steps of the evaluated checkpoint.
        layer_bpp: table bits per pixel of each layer.
        bpp: their sum.
        psnr_db: all layers decoded.
        progressive_psnr_db: k-th entry: only the top k+1 layers decoded (last = psnr_db).
        train_log: last training record (loss, per-layer bpp, psnr_db on training crops).
    """

    betas: tuple[float, ...]
    step: int
    layer_bpp: tuple[float, ...]
    bpp: float
    psnr_db: float
    progressive_psnr_db: tuple[float, ...]
    folder: str
    train_log: dict


def psnr_8bit_db(x_hat: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [0, 1] -> (N,) PSNR in dB of the 8-bit rounded images."""
    return psnr_db((x_hat.clamp(0, 1) * 255).round().double(), (x * 255).round().double(), peak=255.0).numpy()


@torch.no_grad()
def evaluate_model(model, x: torch.Tensor, quality: float) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """-> bits (N, L), psnr_db (N,), progressive psnr_db per k = 1..L, each (N,)."""
    coder = LatentCoder(model)
    N, _, H, W = x.shape
    layers = coder.encode(x, quality)
    bits = coder.layer_bits(layers)
    progressive = []
    for k in range(1, len(layers) + 1):
        kept = layers[:k] + [LayerSymbols(np.zeros_like(s.values), s.table_ids) for s in layers[k:]]
        progressive.append(psnr_8bit_db(coder.reconstruct(kept, H, W, quality), x))
    return bits, progressive[-1], progressive


def inputs_digest(x: torch.Tensor, quality: float) -> str:
    h = hashlib.sha256(x.numpy().tobytes())
    h.update(repr(float(quality)).encode())
    return h.hexdigest()[:16]


def evaluate_point(point: TrainedPoint, x: torch.Tensor, quality: float = 1.0) -> PointResult:
    """x: (N, 3, S, S) evaluation crops; cached in ``point.folder / "eval.json"``."""
    named = load_checkpoint(point.checkpoint)
    # The file format version stands for the coding path (tables, escapes): a change recomputes.
    key = {"step": named.step, "inputs": inputs_digest(x, quality), "format": FORMAT_VERSION}
    cache = point.folder / "eval.json"
    if cache.exists():
        stored = json.loads(cache.read_text())
        if stored.get("key") == key:
            r = stored["result"]
            return PointResult(**{**r, "betas": tuple(r["betas"]), "layer_bpp": tuple(r["layer_bpp"]),
                                  "progressive_psnr_db": tuple(r["progressive_psnr_db"])})
    q = min(float(quality), named.model.config.num_qualities)
    bits, psnr, progressive = evaluate_model(named.model, x, q)
    pixels = x.shape[2] * x.shape[3]
    layer_bpp = tuple(float(v) for v in bits.mean(0) / pixels)
    result = PointResult(point.betas, int(named.step), layer_bpp, float(sum(layer_bpp)), float(psnr.mean()),
                         tuple(float(p.mean()) for p in progressive), str(point.folder), last_log(point.folder))
    cache.write_text(json.dumps({"key": key, "result": asdict(result)}, indent=2) + "\n")
    return result


def rate_pairs(result: PointResult) -> tuple[float, float]:
    """(rate of all layers above the bottom, rate of the bottom layer), bpp."""
    return float(sum(result.layer_bpp[:-1])), float(result.layer_bpp[-1])


@dataclass(frozen=True)
class RateTradingResult:
    """All grid points of one settings slug, evaluated on the same crops."""

    settings: dict
    runs_folder: str
    eval_dataset: str
    eval_crop: int
    num_eval_crops: int
    points: tuple[PointResult, ...]

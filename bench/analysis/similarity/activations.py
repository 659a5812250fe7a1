"""The activations the similarity analysis compares: every conv and GDN output of the codec.

Forward hooks on each ``Conv2d``, ``ConvTranspose2d`` and ``GDN`` inside ``g_a``, ``down``,
(the encoder) and ``top_expand``, ``up``, ``prior``, ``merge``,
``g_s`` (the decoder and its prior) record the outputs of ``model(x, quality)`` (the
codec's quantized path: the decoder sees rounded latents). Layers are listed in the order
they run. Only the centred Gram of each layer is kept (see :mod:`.similarity`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from codec.layers import GDN
from codec.model import HierarchicalVAE

from ..models import quality_tensor
from .cka import centered_gram

ENCODER_PARTS = ("g_a", "down")
DECODER_PARTS = ("top_expand", "up", "prior", "context", "merge", "g_s")
PROBED_TYPES = (nn.Conv2d, nn.ConvTranspose2d, GDN)


def part_of(layer: str) -> str:
    return layer.split(".")[0]


def is_encoder(layer: str) -> bool:
    return part_of(layer) in ENCODER_PARTS


@dataclass(frozen=True)
class Probe:
    """Centred Grams of every probed layer for one model at one quality on fixed inputs.

    Attributes:
        label: what this is (e.g. "q=4", "step 300", a checkpoint path).
        layers: module names in execution order, e.g. "g_a.0", "merge.1.body.2".
        grams: one (n, n) float64 tensor per layer.
    """

    label: str
    layers: tuple[str, ...]
    grams: tuple[torch.Tensor, ...]

    def gram(self, layer: str) -> torch.Tensor:
        return self.grams[self.layers.index(layer)]


@torch.no_grad()
def probe(model: HierarchicalVAE, x: torch.Tensor, quality: float, label: str, batch: int = 16) -> Probe:
    """x: (n, 3, H, W) in [0, 1], H and W multiples of the top stride."""
    model = model.float().eval()
    modules = {name: m for name, m in model.named_modules()
               if isinstance(m, PROBED_TYPES) and part_of(name) in ENCODER_PARTS + DECODER_PARTS}
    order: list[str] = []
    features: dict[str, list[torch.Tensor]] = {}

    def hook(name):
        def record(module, inputs, output):
            if name not in features:
                order.append(name)
                features[name] = []
            features[name].append(output.detach().flatten(1).float())
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in modules.items()]
    try:
        for start in range(0, x.shape[0], batch):
            xb = x[start : start + batch]
            model(xb, quality_tensor(quality, xb.shape[0]))
    finally:
        for h in handles:
            h.remove()
    grams = tuple(centered_gram(torch.cat(features[name])) for name in order)
    return Probe(label, tuple(order), grams)


def common_layers(probes: list[Probe]) -> tuple[str, ...]:
    """Layers every probe has, in the first probe's order."""
    names = set.intersection(*(set(p.layers) for p in probes))
    return tuple(n for n in probes[0].layers if n in names)

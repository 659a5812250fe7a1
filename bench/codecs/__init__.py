"""Registry of benchmarked codecs: name -> class, imported lazily so a missing backend only
costs its own codec.

    create("webp") -> Codec            raises CodecUnavailable (a one-line reason) if it cannot run
    create_available(names) -> (codecs, reasons for the ones skipped)
"""
from __future__ import annotations

import importlib
from typing import Any, Sequence

from bench.codecs.base import Codec, CodecUnavailable

REGISTRY: dict[str, str] = {
    "jpeg": "bench.codecs.pillow:Jpeg",
    "jpeg444": "bench.codecs.pillow:Jpeg444",
    "webp": "bench.codecs.pillow:WebP",
    "jpeg2000": "bench.codecs.pillow:Jpeg2000",
    "avif": "bench.codecs.pillow:Avif",
    "heic": "bench.codecs.plugins:Heic",
    "jxl": "bench.codecs.plugins:JpegXL",
    "klt": "bench.codecs.klt:Klt",
    "ours": "bench.codecs.ours:Ours",
    "mbt2018-mean": "bench.codecs.peer:Mbt2018Mean",
    # speed only: CompressAI's architectures at their zoo widths, random weights
    "mbt2018-mean-zoo": "bench.codecs.peer:Mbt2018MeanZoo",
    "bmshj2018-hyperprior-zoo": "bench.codecs.peer:Bmshj2018HyperpriorZoo",
}
SPEED_ONLY = ("mbt2018-mean-zoo", "bmshj2018-hyperprior-zoo")
CLASSICAL = ("jpeg", "jpeg444", "webp", "jpeg2000", "avif", "heic", "jxl")


def create(name: str, options: dict[str, Any] | None = None) -> Codec:
    """An instance of codec ``name``; ``options`` go to its constructor (e.g. klt's basis_path)."""
    if name not in REGISTRY:
        raise KeyError(f"unknown codec {name!r}; known: {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)(**(options or {}))


def create_available(names: Sequence[str], options: dict[str, dict[str, Any]] | None = None
                     ) -> tuple[list[Codec], list[str]]:
    """The codecs that can run, and one message per codec skipped."""
    codecs, skipped = [], []
    for name in names:
        try:
            codecs.append(create(name, (options or {}).get(name)))
        except CodecUnavailable as e:
            skipped.append(str(e))
    return codecs, skipped


__all__ = ["Codec", "CodecUnavailable", "REGISTRY", "CLASSICAL", "SPEED_ONLY", "create", "create_available"]

"""``klt``: the classical transform coder that is optimal for Gaussian blocks, as a real codec.

Blocks of b x b x 3 pixels minus a fitted mean, the fitted KLT, one uniform quantizer step for
every coefficient (quality = step in 8-bit units; larger step, fewer bytes), per-coefficient
Laplacian tables and the project's ANS coder. See :mod:`bench.klt_stream` for the file.
No prediction between blocks: this is the textbook block transform coder, a reference point
for what a linear transform plus good entropy coding reaches.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench import klt_stream
from bench.codecs.base import Codec, CodecUnavailable
from bench.klt_basis import default_basis_path, load_basis
from bench.record import Clock


class Klt(Codec):
    name = "klt"
    description = "KLT 8x8x3 block transform coder, uniform quantizer, per-coefficient Laplacian + ANS (operational)"
    qualities = (400, 280, 200, 140, 100, 70, 50, 36, 26, 19, 14)

    def __init__(self, basis_path: Path | str | None = None) -> None:
        path = Path(basis_path) if basis_path else default_basis_path(8)
        if not path.exists():
            raise CodecUnavailable(f"klt: no basis at {path}; run `python -m bench fit-klt`")
        try:
            import codec.ans  # noqa: F401
        except ImportError as e:
            raise CodecUnavailable(f"klt: the project's ANS coder is not importable ({e})") from None
        self.basis = load_basis(path)
        self.basis_path = path
        b = self.basis.block
        self.description = self.description.replace("8x8x3", f"{b}x{b}x3")

    @property
    def settings(self) -> dict[str, Any]:
        return {"block": self.basis.block, "basis": self.basis_path.name,
                "basis_digest": self.basis.digest.hex(), "quality": "quantizer step, 8-bit units",
                "entropy_model": "discretized Laplacian per coefficient, scale on a 1/8-octave grid",
                "format_version": klt_stream.VERSION}

    def encode(self, image: np.ndarray, quality: float, clock: Clock | None = None) -> bytes:
        return klt_stream.encode(image, self.basis, float(quality), clock)[0]

    def decode(self, data: bytes, clock: Clock | None = None) -> np.ndarray:
        return klt_stream.decode(data, self.basis, clock)

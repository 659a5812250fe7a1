"""What one codec run on one image produces: :class:`Record`, and a :class:`Clock` for timings."""
from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np


@dataclass(frozen=True)
class LayerPoint:
    """The first ``layers`` layers of a layered file, decoded on their own.

    ``num_bytes`` counts the container header and the first ``layers`` chunks with their
    framing, i.e. the size of the file cut after layer ``layers``.
    """

    layers: int
    num_bytes: int
    bpp: float
    psnr_rgb_db: float


@dataclass(frozen=True)
class Record:
    """One image coded at one quality point.

    bpp = 8 * num_bytes / (width * height) from the bytes really written.
    ``decoded`` (H, W, 3) uint8 is kept only in memory; caches and CSVs drop it.
    """

    codec: str
    quality: float
    width: int
    height: int
    num_bytes: int
    bpp: float
    psnr_rgb_db: float
    ms_ssim: float
    encode_seconds: float
    decode_seconds: float
    image: str = ""
    layers: tuple[LayerPoint, ...] = ()
    decoded: np.ndarray | None = field(default=None, compare=False, repr=False)

    def without_pixels(self) -> "Record":
        return replace(self, decoded=None)

    def to_row(self) -> dict:
        """Flat dict for CSV/JSON; per-layer fields are lists (empty for single-layer codecs)."""
        row = {
            "codec": self.codec, "quality": self.quality, "image": self.image,
            "width": self.width, "height": self.height, "bytes": self.num_bytes,
            "bpp": self.bpp, "psnr_rgb_db": self.psnr_rgb_db, "ms_ssim": self.ms_ssim,
            "encode_seconds": self.encode_seconds, "decode_seconds": self.decode_seconds,
        }
        row["layer_bytes"] = [p.num_bytes for p in self.layers]
        row["layer_bpp"] = [p.bpp for p in self.layers]
        row["layer_psnr_rgb_db"] = [p.psnr_rgb_db for p in self.layers]
        return row

    @classmethod
    def from_row(cls, row: dict) -> "Record":
        layers = tuple(
            LayerPoint(k + 1, int(n), float(b), float(p))
            for k, (n, b, p) in enumerate(zip(row["layer_bytes"], row["layer_bpp"], row["layer_psnr_rgb_db"]))
        )
        return cls(
            codec=row["codec"], quality=float(row["quality"]), image=row["image"],
            width=int(row["width"]), height=int(row["height"]), num_bytes=int(row["bytes"]),
            bpp=float(row["bpp"]), psnr_rgb_db=float(row["psnr_rgb_db"]), ms_ssim=float(row["ms_ssim"]),
            encode_seconds=float(row["encode_seconds"]), decode_seconds=float(row["decode_seconds"]),
            layers=layers,
        )


class Clock:
    """Accumulates wall seconds per named section, e.g. ``"entropy"`` inside an encoder.

    Codecs that can attribute their time take an optional clock and time sections with
    ``with clock.section("entropy"): ...``; others ignore it.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def section(clock: Clock | None, name: str):
    """``clock.section(name)``, or a no-op context when there is no clock."""
    return clock.section(name) if clock is not None else nullcontext()


@contextmanager
def timed_calls(clock: Clock | None, name: str, targets) -> Iterator[None]:
    """While active, every call of ``owner.method`` for ``(owner, method)`` in ``targets`` is
    timed as ``clock``'s section ``name``; owners are classes or instances, restored after.

    For codecs whose entropy coder sits inside a library call (our API, CompressAI)."""
    if clock is None:
        yield
        return
    saved = []
    for owner, method in targets:
        had, previous = method in vars(owner), vars(owner).get(method)
        wrapped = getattr(owner, method)
        if isinstance(owner, type):
            wrapped = previous

        def timed(*args, _call=wrapped, **kwargs):
            with clock.section(name):
                return _call(*args, **kwargs)

        setattr(owner, method, timed)
        saved.append((owner, method, had, previous))
    try:
        yield
    finally:
        for owner, method, had, previous in reversed(saved):
            if had:
                setattr(owner, method, previous)
            else:
                delattr(owner, method)

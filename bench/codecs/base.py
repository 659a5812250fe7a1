"""The one protocol every benchmarked codec implements (after CompressAI's bench ``Codec``).

    image (H, W, 3) uint8 --encode(quality)--> bytes --decode--> (H, W, 3) uint8
                          `----------------- run() ----------------' -> Record

A new baseline is one subclass: set ``name``, ``description``, ``qualities`` (the default
sweep, low to high rate) and implement ``encode``/``decode`` and ``settings``. ``run``
times both, measures rate from the bytes and scores the 8-bit output.
"""
from __future__ import annotations

import abc
import time
from typing import Any, Sequence

import numpy as np

from bench.metrics import bits_per_pixel, ms_ssim, psnr_rgb_db
from bench.record import Clock, Record


class CodecUnavailable(RuntimeError):
    """An optional backend is missing; the message says what to install."""


class Codec(abc.ABC):
    name: str = ""
    description: str = ""
    qualities: Sequence[float] = ()

    @property
    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """JSON-able configuration, library versions included: part of the cache key."""

    @abc.abstractmethod
    def encode(self, image: np.ndarray, quality: float, clock: Clock | None = None) -> bytes:
        """image: (H, W, 3) uint8 -> the complete file, as a user would store it."""

    @abc.abstractmethod
    def decode(self, data: bytes, clock: Clock | None = None) -> np.ndarray:
        """The file's bytes alone -> (H, W, 3) uint8."""

    def run(self, image: np.ndarray, quality: float, image_name: str = "",
            with_ms_ssim: bool = True) -> Record:
        """Encode, decode and score one image at one quality point."""
        data, decoded, encode_seconds, decode_seconds = self.timed_round_trip(image, quality)
        return self.score(image, quality, data, decoded, encode_seconds, decode_seconds,
                          image_name, with_ms_ssim)

    def timed_round_trip(self, image: np.ndarray, quality: float) -> tuple[bytes, np.ndarray, float, float]:
        """-> (file bytes, decoded image, encode seconds, decode seconds)."""
        start = time.perf_counter()
        data = self.encode(image, quality)
        encode_seconds = time.perf_counter() - start
        start = time.perf_counter()
        decoded = self.decode(data)
        decode_seconds = time.perf_counter() - start
        if decoded.shape != image.shape or decoded.dtype != np.uint8:
            raise RuntimeError(f"{self.name}: decoded {decoded.shape} {decoded.dtype}, want {image.shape} uint8")
        return data, decoded, encode_seconds, decode_seconds

    def score(self, image: np.ndarray, quality: float, data: bytes, decoded: np.ndarray,
              encode_seconds: float, decode_seconds: float, image_name: str = "",
              with_ms_ssim: bool = True) -> Record:
        height, width = image.shape[:2]
        return Record(
            codec=self.name, quality=float(quality), image=image_name, width=width, height=height,
            num_bytes=len(data), bpp=bits_per_pixel(len(data), width, height),
            psnr_rgb_db=psnr_rgb_db(image, decoded),
            ms_ssim=ms_ssim(image, decoded) if with_ms_ssim else float("nan"),
            encode_seconds=encode_seconds, decode_seconds=decode_seconds, decoded=decoded,
        )

"""Classical codecs that Pillow itself writes: JPEG (4:2:0 and 4:4:4), WebP, JPEG 2000, AVIF.

Each is configured the way its users would configure it for PSNR, single-threaded so
timings compare (and the bench stays light on a shared machine). Quality sweeps span
roughly 0.1-2.5 bpp on Kodak.
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
import PIL
from PIL import Image, features

from bench.codecs.base import Codec, CodecUnavailable
from bench.record import Clock


class PillowCodec(Codec):
    """Saves with ``Image.save(format=..., **save_options(quality))``, decodes with ``Image.open``."""

    format: str = ""
    feature: str = ""  # PIL.features name that must be available

    def __init__(self) -> None:
        if self.feature and not features.check(self.feature):
            raise CodecUnavailable(f"{self.name}: this Pillow {PIL.__version__} was built without {self.feature}")

    def save_options(self, quality: float) -> dict[str, Any]:
        raise NotImplementedError

    def library(self) -> dict[str, Any]:
        return {"pillow": PIL.__version__, self.feature: features.version(self.feature)}

    @property
    def settings(self) -> dict[str, Any]:
        example = {k: v for k, v in self.save_options(self.qualities[0]).items() if k != "quality"}
        return {"format": self.format, **example, "threads": 1, **self.library()}

    def encode(self, image: np.ndarray, quality: float, clock: Clock | None = None) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format=self.format, **self.save_options(quality))
        return buffer.getvalue()

    def decode(self, data: bytes, clock: Clock | None = None) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


class Jpeg(PillowCodec):
    """Baseline JPEG (libjpeg-turbo), quality 5..90, chroma 4:2:0, Pillow's default tables.

    optimize=False (Pillow's default, as in CompressAI's JPEG anchor) keeps the anchor
    comparable with published tables; optimized Huffman tables save a few percent.
    """

    name = "jpeg"
    description = "JPEG 4:2:0 (Pillow, libjpeg-turbo)"
    format, feature = "JPEG", "jpg"
    qualities = (5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90)
    subsampling = 2  # Pillow: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0

    def save_options(self, quality: float) -> dict[str, Any]:
        return {"quality": int(quality), "subsampling": self.subsampling, "optimize": False}

    def library(self) -> dict[str, Any]:
        return {"pillow": PIL.__version__, "libjpeg_turbo": features.version("libjpeg_turbo")}


class Jpeg444(Jpeg):
    name = "jpeg444"
    description = "JPEG 4:4:4 (Pillow, libjpeg-turbo)"
    subsampling = 0


class WebP(PillowCodec):
    """Lossy WebP (libwebp, always 4:2:0), slowest/best method 6."""

    name = "webp"
    description = "WebP lossy (Pillow, libwebp), method=6"
    format, feature = "WEBP", "webp"
    qualities = (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)

    def save_options(self, quality: float) -> dict[str, Any]:
        return {"quality": int(quality), "method": 6, "lossless": False}


class Jpeg2000(PillowCodec):
    """JPEG 2000 (OpenJPEG), 9/7 wavelet with the irreversible colour transform.

    quality = target bpp, passed as one layer at compression ratio 24 / bpp. mct=1 matters:
    without it OpenJPEG codes R, G and B independently (about 4 dB worse at 1 bpp on kodim01).
    """

    name = "jpeg2000"
    description = "JPEG 2000 (Pillow, OpenJPEG), irreversible 9/7, mct=1, rate-targeted"
    format, feature = "JPEG2000", "jpg_2000"
    qualities = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5)

    def save_options(self, quality: float) -> dict[str, Any]:
        return {"quality_mode": "rates", "quality_layers": [24.0 / float(quality)],
                "irreversible": True, "mct": 1, "no_jp2": True}

    @property
    def settings(self) -> dict[str, Any]:
        return {"format": self.format, "quality_mode": "rates", "quality_layers": "[24 / quality]",
                "irreversible": True, "mct": 1, "no_jp2": True, "threads": 1, **self.library()}


class Avif(PillowCodec):
    """AVIF through Pillow's own plugin (libavif + libaom encoder), 4:4:4, speed 4, tune=psnr."""

    name = "avif"
    description = "AVIF 4:4:4 (Pillow, libavif/libaom), speed=4, tune=psnr"
    format, feature = "AVIF", "avif"
    qualities = (5, 15, 25, 35, 45, 55, 65, 75, 85)

    def __init__(self) -> None:
        super().__init__()
        from PIL import AvifImagePlugin

        AvifImagePlugin.DEFAULT_MAX_THREADS = 1  # the decoder's thread count has no save option
        self._plugin = AvifImagePlugin

    def save_options(self, quality: float) -> dict[str, Any]:
        return {"quality": int(quality), "speed": 4, "subsampling": "4:4:4", "max_threads": 1,
                "codec": "aom", "advanced": {"tune": "psnr"}}

    def library(self) -> dict[str, Any]:
        return {"pillow": PIL.__version__, "libavif": features.version("avif"),
                "aom": self._plugin.get_codec_version("aom")}

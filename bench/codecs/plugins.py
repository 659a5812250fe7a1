"""Classical codecs that need a Pillow plugin: HEIC (pillow-heif, x265) and JPEG XL (pillow-jxl-plugin).

Both are optional: a missing plugin raises :class:`CodecUnavailable` with the pip name.
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from bench.codecs.base import Codec, CodecUnavailable
from bench.record import Clock


class Heic(Codec):
    """HEIC (HEVC intra, x265 through libheif), 4:4:4, preset slow, tune=psnr, one thread.

    libheif's x265 defaults are tune=ssim and 4:2:0; pillow-heif passes ``enc_params`` to the
    encoder plugin (``x265:<param>`` goes to x265 itself), so a PSNR user sets them.
    """

    name = "heic"
    description = "HEIC 4:4:4 (pillow-heif, libheif + x265), preset=slow, tune=psnr"
    qualities = (3, 8, 13, 18, 23, 28, 33, 38, 43, 48, 53, 58)
    enc_params = {"preset": "slow", "tune": "psnr", "x265:pools": "1", "x265:frame-threads": "1"}

    def __init__(self) -> None:
        try:
            import pillow_heif
        except ImportError:
            raise CodecUnavailable("heic: pip install pillow-heif") from None
        info = pillow_heif.libheif_info()
        if "x265" not in info.get("encoders", {}):
            raise CodecUnavailable("heic: this pillow-heif build has no x265 encoder")
        pillow_heif.options.DECODE_THREADS = 1
        self._heif = pillow_heif
        self._versions = {"pillow_heif": pillow_heif.__version__, "libheif": info["libheif"],
                          "x265": info["encoders"]["x265"]}

    @property
    def settings(self) -> dict[str, Any]:
        return {"chroma": 444, "enc_params": dict(self.enc_params), "threads": 1, **self._versions}

    def encode(self, image: np.ndarray, quality: float, clock: Clock | None = None) -> bytes:
        buffer = io.BytesIO()
        heif = self._heif.from_pillow(Image.fromarray(image))
        heif.save(buffer, quality=int(quality), chroma=444, enc_params=dict(self.enc_params))
        return buffer.getvalue()

    def decode(self, data: bytes, clock: Clock | None = None) -> np.ndarray:
        im = self._heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True).to_pillow()
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


class JpegXL(Codec):
    """JPEG XL (libjxl through pillow-jxl-plugin), VarDCT, effort 7 (libjxl's default), one thread."""

    name = "jxl"
    description = "JPEG XL (pillow-jxl-plugin, libjxl), effort=7"
    qualities = (0, 5, 15, 25, 35, 45, 55, 65, 75, 85, 90)

    def __init__(self) -> None:
        try:
            import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)
            from pillow_jxl import JpegXLImagePlugin
        except ImportError:
            raise CodecUnavailable("jxl: pip install pillow-jxl-plugin") from None
        JpegXLImagePlugin.DECODE_THREADS = 1  # module global: the decoder has no open() option
        from importlib.metadata import version

        self._version = version("pillow-jxl-plugin")

    @property
    def settings(self) -> dict[str, Any]:
        return {"effort": 7, "decoding_speed": 0, "threads": 1, "pillow_jxl_plugin": self._version}

    def encode(self, image: np.ndarray, quality: float, clock: Clock | None = None) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JXL", quality=int(quality), effort=7,
                                    decoding_speed=0, num_threads=1)
        return buffer.getvalue()

    def decode(self, data: bytes, clock: Clock | None = None) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()

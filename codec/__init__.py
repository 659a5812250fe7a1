"""A learned lossy image codec: hierarchical-VAE transform coding with ANS.

Quick start::

    import codec
    model = codec.load()                      # default shipped model
    data = model.compress(image, quality=4)   # PIL.Image or uint8 array -> bytes
    image = model.decompress(data)            # -> PIL.Image
    coarse = model.decompress(data, layers=1) # progressive: top layer only

``import codec`` also registers ``.hvc`` with Pillow (:mod:`codec.pillow_plugin`). It does not
import torch: the model classes load on first use (``codec.load``, ``codec.Codec``, ...).
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from . import pillow_plugin
from .config import ModelConfig
from .errors import CodecError, CodecWarning, DecompressionBombError, FormatError

if TYPE_CHECKING:
    from .api import Codec, Estimate, LayerEstimate, load

__all__ = ["Codec", "CodecError", "CodecWarning", "DecompressionBombError", "Estimate", "FormatError",
           "LayerEstimate", "ModelConfig", "compress", "decompress", "load"]

_LAZY = ("Codec", "Estimate", "LayerEstimate", "load")  # from codec.api, which imports torch

pillow_plugin.register()


def __getattr__(name: str):
    if name in _LAZY:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'codec' has no attribute {name!r}")


@lru_cache(maxsize=4)
def _cached(name: str | None) -> "Codec":
    from .api import load

    return load(name)


def compress(image, quality: float | None = None, model: str | None = None, effort: int = 0,
             metadata="all", **target) -> bytes:
    """Compress with a shipped model (default model unless ``model`` names one) at ``quality``
    (None: the model's :attr:`Codec.default_quality`), ``effort``, ``metadata`` and a
    ``target_bytes`` / ``target_bpp`` / ``target_psnr`` instead of a quality (see
    :meth:`Codec.compress`)."""
    return _cached(model).compress(image, quality, effort, metadata=metadata, **target)


def decompress(data: bytes, layers: int | None = None, max_pixels: int | None = None) -> "PIL.Image.Image":  # noqa: F821
    """Decompress with the shipped model named in the file's header (``max_pixels``: see
    :meth:`Codec.decompress`; the limit is checked before the model is even loaded).

    Raises:
        FormatError: the file is malformed, or names a model that is not installed.
        DecompressionBombError: the file claims more pixels than the limit.
    """
    from .api import check_pixel_limit
    from .checkpoints import read_manifest
    from .container import parse

    header = parse(data).header
    check_pixel_limit(header, max_pixels)
    name = header.model_name
    if name not in read_manifest()["models"]:
        raise FormatError(f"file was made by model {name!r} (weights {header.weights_digest.hex()}), "
                          "which is not installed (see `codec models`)")
    return _cached(name).decompress(data, layers, max_pixels)

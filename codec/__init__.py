"""A learned lossy image codec: hierarchical-VAE transform coding with ANS.

Quick start::

    import codec
    model = codec.load()                      # default shipped model
    data = model.compress(image, quality=4)   # PIL.Image or uint8 array -> bytes
    image = model.decompress(data)            # -> PIL.Image
    coarse = model.decompress(data, layers=1) # progressive: top layer only
"""
from __future__ import annotations

from functools import lru_cache

from .api import Codec, Estimate, LayerEstimate, load
from .config import ModelConfig
from .errors import CodecError, CodecWarning, DecompressionBombError, FormatError

__all__ = ["Codec", "CodecError", "CodecWarning", "DecompressionBombError", "Estimate", "FormatError",
           "LayerEstimate", "ModelConfig", "compress", "decompress", "load"]


@lru_cache(maxsize=4)
def _cached(name: str | None) -> Codec:
    return load(name)


def compress(image, quality: float | None = None, model: str | None = None, effort: int = 0) -> bytes:
    """Compress with a shipped model (default model unless ``model`` names one) at ``quality``
    (None: the model's :attr:`Codec.default_quality`) and ``effort`` (see :meth:`Codec.compress`)."""
    return _cached(model).compress(image, quality, effort)


def decompress(data: bytes, layers: int | None = None, max_pixels: int | None = None) -> "PIL.Image.Image":  # noqa: F821
    """Decompress with the shipped model named in the file's header (``max_pixels``: see
    :meth:`Codec.decompress`; the limit is checked before the model is even loaded).

    Raises:
        FormatError: the file is malformed, or names a model that is not installed.
        DecompressionBombError: the file claims more pixels than the limit.
    """
    from .checkpoints import read_manifest
    from .container import parse

    from .api import check_pixel_limit

    header = parse(data).header
    check_pixel_limit(header, max_pixels)
    name = header.model_name
    if name not in read_manifest()["models"]:
        raise FormatError(f"file was made by model {name!r} (weights {header.weights_digest.hex()}), "
                          "which is not installed (see `codec models`)")
    return _cached(name).decompress(data, layers, max_pixels)

"""Images in and out: any Pillow mode or uint8 array -> (H, W, 3) uint8, and back.

What happens to each input mode (also in README):

* RGB: coded as is.             * L, 1: coded as gray RGB, decoded back to L.
* RGBA, LA, PA: alpha is dropped (CodecWarning); RGB or L is coded.
* P: the palette is expanded to RGB (or L for an all-gray palette); transparency dropped.
* I;16*, I, F (16/32-bit gray): scaled to 8 bits (CodecWarning), coded as L.
* CMYK, YCbCr, LAB, HSV: converted to RGB.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .container import check_dimensions
from .errors import CodecError, CodecWarning, FormatError


# File names read as images: the CLI's inputs, training folders, benchmark data sets.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"})


@dataclass(frozen=True)
class PreparedImage:
    pixels: np.ndarray  # (H, W, 3) uint8
    mode: str  # "RGB" or "L": what the decoder gives back


def _warn(message: str) -> None:
    warnings.warn(message, CodecWarning, stacklevel=4)


def _from_array(array: np.ndarray) -> PreparedImage:
    a = np.asarray(array)
    if a.dtype == np.uint16:
        _warn("16-bit array reduced to 8 bits")
        a = ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if a.dtype != np.uint8:
        raise CodecError(f"arrays must be uint8 (or uint16), got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return PreparedImage(np.repeat(a[:, :, None], 3, axis=2), "L")
    if a.ndim == 3 and a.shape[2] in (3, 4):
        if a.shape[2] == 4:
            _warn("alpha channel dropped")
        return PreparedImage(np.ascontiguousarray(a[:, :, :3]), "RGB")
    raise CodecError(f"arrays must be HxW, HxWx1, HxWx3 or HxWx4, got shape {a.shape}")


def _gray_palette(im: Image.Image) -> bool:
    pal = np.asarray(im.getpalette() or [], dtype=np.uint8).reshape(-1, 3)
    return pal.size > 0 and bool(np.all(pal == pal[:, :1]))


def _from_pil(im: Image.Image) -> PreparedImage:
    mode = im.mode
    if mode in ("RGB",):
        out = im
    elif mode in ("L", "1"):
        out = im.convert("L")
    elif mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        _warn(f"alpha channel of a {mode} image dropped")
        out = im.convert("L" if mode in ("LA", "La") else "RGB")
    elif mode == "P":
        if "transparency" in im.info:
            _warn("palette transparency dropped")
        out = im.convert("L" if _gray_palette(im) else "RGB")
    elif mode.startswith("I") or mode == "F":
        _warn(f"{mode} image reduced to 8-bit grayscale")
        a = np.asarray(im, dtype=np.float64)
        scale = 255 / 65535 if a.max(initial=0) > 255 or mode.startswith("I;16") else 1.0
        out = Image.fromarray(np.clip(np.round(a * scale), 0, 255).astype(np.uint8), "L")
    else:
        try:
            out = im.convert("RGB")
        except (ValueError, OSError) as e:
            raise CodecError(f"cannot convert a {mode} image to RGB: {e}") from None
    return _from_array(np.asarray(out))


def prepare(image) -> PreparedImage:
    """PIL.Image or uint8 array -> pixels the codec codes, and the mode to decode to."""
    if isinstance(image, Image.Image):
        prepared = _from_pil(image)
    elif isinstance(image, (np.ndarray, torch.Tensor)):
        prepared = _from_array(np.asarray(image))
    else:
        raise CodecError(f"expected a PIL.Image or a uint8 array, got {type(image).__name__}")
    h, w = prepared.pixels.shape[:2]
    try:
        check_dimensions(w, h)
    except FormatError as e:
        raise CodecError(str(e)) from None
    return prepared


def to_tensor(pixels: list[np.ndarray], multiple: int) -> torch.Tensor:
    """Same-size (H, W, 3) uint8 arrays -> (N, 3, H', W') float32 in [0, 1], edge-padded
    to multiples of ``multiple``."""
    h, w = pixels[0].shape[:2]
    ph, pw = -h % multiple, -w % multiple
    return batch_tensor(np.stack([np.pad(p, ((0, ph), (0, pw), (0, 0)), mode="edge") for p in pixels]))


def batch_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, 3) or (N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [0, 1]."""
    a = np.ascontiguousarray(np.asarray(pixels)[None] if np.ndim(pixels) == 3 else pixels)
    if not a.flags.writeable:  # torch wants writable memory (the float copy below never writes back)
        a = a.copy()
    return torch.from_numpy(a).permute(0, 3, 1, 2).float().div_(255)


def to_image(x: torch.Tensor, width: int, height: int, mode: str) -> Image.Image:
    """(3, H', W') float in [0, 1] -> PIL.Image cropped to width x height, in ``mode``."""
    # The same arithmetic as (clamp(0, 1) * 255).round(), in one float copy instead of four.
    a = x[:, :height, :width].clamp(0, 1).mul_(255).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    if mode == "L":
        # The codec's RGB output of a gray image is near gray; ITU-R 601 luma collapses it.
        return Image.fromarray(np.ascontiguousarray(a)).convert("L")
    return Image.fromarray(np.ascontiguousarray(a), "RGB")

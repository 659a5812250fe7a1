"""Images in and out: any Pillow mode or uint8 array -> (H, W, 3) uint8 colour planes, an
optional alpha plane and the metadata to keep; and back.

What happens to each input mode (also in README):

* RGB: coded as is.             * L, 1: coded as gray RGB, decoded back to L.
* RGBA, LA (and RGBa, La, PA): the colour planes are coded as RGB or L, the alpha plane
  losslessly (PNG or lossless WebP, in its own chunk); decoded back to RGBA or LA (PA to RGBA).
* P: the palette is expanded to RGB (or L for an all-gray palette); with transparency to
  RGBA (or LA), its alpha kept.
* I;16*, I, F (16/32-bit gray): scaled to 8 bits (CodecWarning), coded as L.
* CMYK, YCbCr, LAB, HSV: converted to RGB.

Metadata (an ICC profile, EXIF, XMP) is carried as the bytes Pillow gives for it
(``im.info``), unparsed; the pixels are kept as stored, so an EXIF orientation tag comes back
with them and viewers turn the image as they did before.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field, replace

import sys
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .container import check_dimensions
from .errors import CodecError, CodecWarning, FormatError

if TYPE_CHECKING:
    import torch


# File names read as images: the CLI's inputs, training folders, benchmark data sets.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"})


@dataclass(frozen=True)
class PreparedImage:
    pixels: np.ndarray  # (H, W, 3) uint8
    mode: str  # "RGB", "L", "RGBA" or "LA": what the decoder gives back
    alpha: np.ndarray | None = None  # (H, W) uint8, for modes RGBA and LA
    metadata: dict[str, bytes] = field(default_factory=dict)  # kind -> bytes (container.METADATA_KINDS)

    def alpha_chunk(self) -> bytes | None:
        """The alpha plane as the container stores it, losslessly: the smaller of a PNG of mode L
        and a lossless WebP (gray, when Pillow has WebP), both Pillow's own encoders. Measured on
        a feathered 768x512 matte: PNG 30.6 kB, WebP method 4 25.4 kB (0.14 s; method 6 19.3 kB
        but 1.6 s)."""
        if self.alpha is None:
            return None
        plane = Image.fromarray(self.alpha, "L")
        candidates = []
        for fmt, options in (("PNG", {"compress_level": 9}), ("WEBP", {"lossless": True, "method": 4, "quality": 100})):
            if fmt == "WEBP" and not _has_webp():
                continue
            buf = io.BytesIO()
            plane.save(buf, fmt, **options)
            candidates.append(buf.getvalue())
        return min(candidates, key=len)


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
    if a.ndim == 3 and a.shape[2] == 2:  # gray + alpha
        return PreparedImage(np.repeat(a[:, :, :1], 3, axis=2), "LA", np.ascontiguousarray(a[:, :, 1]))
    if a.ndim == 3 and a.shape[2] == 3:
        return PreparedImage(np.ascontiguousarray(a), "RGB")
    if a.ndim == 3 and a.shape[2] == 4:
        return PreparedImage(np.ascontiguousarray(a[:, :, :3]), "RGBA", np.ascontiguousarray(a[:, :, 3]))
    raise CodecError(f"arrays must be HxW, HxWx1, HxWx2, HxWx3 or HxWx4, got shape {a.shape}")


def _gray_palette(im: Image.Image) -> bool:
    pal = np.asarray(im.getpalette() or [], dtype=np.uint8).reshape(-1, 3)
    return pal.size > 0 and bool(np.all(pal == pal[:, :1]))


def _from_pil(im: Image.Image) -> PreparedImage:
    return replace(_pixels_from_pil(im), metadata=image_metadata(im))


# The container's metadata kinds and the keys Pillow keeps them under in Image.info.
PILLOW_KEYS = {"icc": "icc_profile", "exif": "exif", "xmp": "xmp"}


def pillow_info(metadata: dict[str, bytes]) -> dict[str, bytes]:
    """A file's metadata as Pillow's ``Image.info`` entries (``icc_profile``, ``exif``, ``xmp``)."""
    return {PILLOW_KEYS[kind]: value for kind, value in metadata.items()}


def image_metadata(im: Image.Image) -> dict[str, bytes]:
    """The ICC profile, EXIF and XMP an image carries, as the bytes Pillow read (XMP that Pillow
    gives as text, from PNG, as UTF-8); absent or empty ones are left out."""
    found = {kind: im.info.get(key) for kind, key in PILLOW_KEYS.items()}
    out = {}
    for kind, value in found.items():
        if isinstance(value, str):
            value = value.encode("utf-8")
        if isinstance(value, (bytes, bytearray)) and value:
            out[kind] = bytes(value)
        elif value:
            _warn(f"{kind} metadata of type {type(value).__name__} dropped (bytes expected)")
    return out


def _pixels_from_pil(im: Image.Image) -> PreparedImage:
    mode = im.mode
    if mode in ("RGB",):
        out = im
    elif mode in ("L", "1"):
        out = im.convert("L")
    elif mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        out = im.convert("LA" if mode in ("LA", "La") else "RGBA")
    elif mode == "P":
        gray = _gray_palette(im)
        if "transparency" in im.info:
            out = im.convert("RGBA").convert("LA") if gray else im.convert("RGBA")
        else:
            out = im.convert("L" if gray else "RGB")
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
    elif isinstance(image, np.ndarray) or _is_tensor(image):
        prepared = _from_array(np.asarray(image))
    else:
        raise CodecError(f"expected a PIL.Image or a uint8 array, got {type(image).__name__}")
    h, w = prepared.pixels.shape[:2]
    try:
        check_dimensions(w, h)
    except FormatError as e:
        raise CodecError(str(e)) from None
    return prepared


def _is_tensor(value) -> bool:
    """A torch tensor? (Without importing torch: if it is not loaded, nothing is one.)"""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def to_tensor(pixels: list[np.ndarray], multiple: int) -> torch.Tensor:
    """Same-size (H, W, 3) uint8 arrays -> (N, 3, H', W') float32 in [0, 1], edge-padded
    to multiples of ``multiple``."""
    h, w = pixels[0].shape[:2]
    ph, pw = -h % multiple, -w % multiple
    return batch_tensor(np.stack([np.pad(p, ((0, ph), (0, pw), (0, 0)), mode="edge") for p in pixels]))


def batch_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, 3) or (N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [0, 1]."""
    a = np.ascontiguousarray(np.asarray(pixels)[None] if np.ndim(pixels) == 3 else pixels)
    import torch

    if not a.flags.writeable:  # torch wants writable memory (the float copy below never writes back)
        a = a.copy()
    return torch.from_numpy(a).permute(0, 3, 1, 2).float().div_(255)


def to_image(x: torch.Tensor, width: int, height: int, mode: str) -> Image.Image:
    """(3, H', W') float in [0, 1] -> PIL.Image cropped to width x height, in ``mode`` without
    its alpha (L for L and LA, RGB for RGB and RGBA): see :func:`with_alpha`."""
    import torch

    # The same arithmetic as (clamp(0, 1) * 255).round(), in one float copy instead of four.
    a = x[:, :height, :width].clamp(0, 1).mul_(255).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    if mode in ("L", "LA"):
        # The codec's RGB output of a gray image is near gray; ITU-R 601 luma collapses it.
        return Image.fromarray(np.ascontiguousarray(a)).convert("L")
    return Image.fromarray(np.ascontiguousarray(a), "RGB")


def _has_webp() -> bool:
    from PIL import features

    return bool(features.check("webp"))


def with_alpha(image: Image.Image, chunk: bytes) -> Image.Image:
    """The decoded colour image with its alpha plane (the container's PNG or lossless WebP)
    -> LA or RGBA.

    Raises:
        FormatError: the alpha chunk is not a gray plane of the image's size.
    """
    try:
        with warnings.catch_warnings():  # the codec's own pixel limit applies, not Pillow's
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            plane = Image.open(io.BytesIO(chunk), formats=["PNG", "WEBP"])
            if plane.size != image.size or plane.mode not in ("L", "RGB") or \
                    (plane.format == "PNG") != (plane.mode == "L"):
                raise FormatError(f"alpha chunk holds a {plane.mode} {plane.format} image of {plane.size[0]}x"
                                  f"{plane.size[1]}, not a gray plane of {image.size[0]}x{image.size[1]}")
            plane.load()
    except FormatError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise FormatError(f"alpha chunk is not a readable PNG or WebP ({type(e).__name__})") from None
    if plane.mode == "RGB":  # WebP has no gray mode: a gray plane comes back with R = G = B
        rgb = np.asarray(plane)
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
            raise FormatError("alpha chunk is a colour WebP, not a gray plane")
        plane = Image.fromarray(np.ascontiguousarray(rgb[..., 0]), "L")
    image.putalpha(plane)
    return image

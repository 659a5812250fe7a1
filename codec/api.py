"""The Python API: a loaded model that compresses images to bytes and back.

::

    image ──prepare──> (H, W, 3) uint8 ──pad──> LatentCoder.encode ──> symbols per layer
          ──TableCoder.encode──> one ANS stream per layer ──container.serialize──> bytes
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from . import container
from .container import MAX_DECODE_PIXELS
from .checkpoints import load_release, weights_digest
from .config import ModelConfig
from .errors import CodecError, CodecWarning, DecompressionBombError, FormatError
from .images import pillow_info, prepare, to_image, to_tensor, with_alpha
from .latent_codec import LatentCoder
from .targets import Target, psnr_of, search
from .model import HierarchicalVAE


@dataclass(frozen=True)
class LayerEstimate:
    """Estimated rate of one latent layer (decode order, top first)."""

    bits: float
    bpp: float


@dataclass(frozen=True)
class Estimate:
    """The model's rate estimate for one image: the information content of its symbols
    under the coding tables. The file is larger by the header, chunk framing (8 bytes a
    layer) and the ANS coder's overhead (well under 0.5%)."""

    width: int
    height: int
    quality: float
    layers: tuple[LayerEstimate, ...]

    @property
    def bits(self) -> float:
        return sum(layer.bits for layer in self.layers)

    @property
    def bpp(self) -> float:
        return self.bits / (self.width * self.height)


class Codec:
    """A model ready to code. Build with :func:`codec.load` or :meth:`Codec.from_model`."""

    def __init__(self, model: HierarchicalVAE, name: str):
        self.name = name
        self.config: ModelConfig = model.config
        self.digest = weights_digest(model)[:8]
        self._coder = LatentCoder(model)

    @classmethod
    def from_model(cls, model: HierarchicalVAE, name: str | None = None) -> "Codec":
        return cls(model, name or model.config.name)

    @classmethod
    def random(cls, config: ModelConfig | None = None, seed: int = 0) -> "Codec":
        """A randomly initialised model (tests, smoke runs)."""
        torch.manual_seed(seed)
        return cls(HierarchicalVAE(config or ModelConfig()), (config or ModelConfig()).name)

    @property
    def num_layers(self) -> int:
        return self.config.num_layers

    @property
    def num_qualities(self) -> int:
        return self.config.num_qualities

    @property
    def default_quality(self) -> float:
        """The quality used when none is given (see :attr:`ModelConfig.default_quality`)."""
        return self.config.default_quality

    def __repr__(self) -> str:
        return f"Codec({self.name!r}, layers={self.num_layers}, qualities=1..{self.num_qualities})"

    # -- helpers -------------------------------------------------------------------------
    def _quality_milli(self, quality: float) -> int:
        try:
            q = float(quality)
        except (TypeError, ValueError):
            raise CodecError(f"quality must be a number, got {quality!r}") from None
        if not (math.isfinite(q) and 1 <= q <= self.num_qualities):
            raise CodecError(f"quality must be in [1, {self.num_qualities}], got {quality}")
        return int(round(q * 1000))

    def check_options(self, quality: float | None = None, effort: int = 0) -> None:
        """Raise :class:`CodecError` (one line) if ``quality`` or ``effort`` is out of range."""
        self._quality_milli(self.default_quality if quality is None else quality)
        _effort(effort)

    def _encode(self, images: list, quality: float | None, effort: int = 0, progress=None):
        """-> prepared images, their symbols as a list of batches (effort 0: one batch of all;
        else one batch per image, each refined on its own), quality in milli, width, height."""
        milli = self._quality_milli(self.default_quality if quality is None else quality)
        level = _effort(effort)
        prepared = [prepare(im) for im in images]
        shapes = {p.pixels.shape for p in prepared}
        if len(shapes) != 1:
            raise CodecError("images coded in one batch must have the same size")
        h, w = prepared[0].pixels.shape[:2]
        x = to_tensor([p.pixels for p in prepared], self.config.pad_multiple)
        if level.steps == 0:
            # The float64 copies the top-down pass reads, made here so that neither the float32
            # features nor the image (12 bytes a pixel) stay alive beside them.
            features = [f.double().contiguous() for f in self._coder.analyze(x)]
            del x
            return prepared, [self._coder.encode_features(features, milli / 1000)], milli, w, h
        from .refine import refine

        batches = [refine(self._coder, x[n : n + 1], h, w, milli / 1000, level, progress=progress).layers
                   for n in range(x.shape[0])]
        return prepared, batches, milli, w, h

    # -- public API ------------------------------------------------------------------------
    def compress(self, image, quality: float | None = None, effort: int = 0, progress=None,
                 metadata="all", target_bytes: float | None = None, target_bpp: float | None = None,
                 target_psnr: float | None = None) -> bytes:
        """Compress one image.

        Args:
            image: PIL.Image (any common mode, see :mod:`codec.images`) or uint8 array
                (H, W), (H, W, 1|3|4).
            quality: float in [1, num_qualities]; higher is more bits and higher PSNR.
                None: :attr:`default_quality`.
            effort: 0 (the encoder as trained, fastest) to :data:`codec.refine.MAX_EFFORT`:
                refine the latents by gradient steps for fewer bits at equal quality
                (:mod:`codec.refine`); the file decodes with any decoder of this format.
            progress: optional ``progress(steps_done, steps)`` called during refinement.
            metadata: which of the image's ICC profile, EXIF and XMP to keep (``im.info``,
                stored as given): ``"all"`` (default), ``"none"``, or a comma list or
                iterable of ``icc``, ``exif``, ``xmp``; or a dict kind -> bytes to store
                instead of the image's own.
            target_bytes, target_bpp, target_psnr: instead of ``quality``, one target: a file
                of at most so many bytes or bits per pixel, or a decoded PSNR (dB, of the
                colour planes) of at least this much; the quality is searched
                (:mod:`codec.targets`) and stored in the file as usual. Raises
                :class:`CodecError` naming the nearest reachable value when no quality meets it.
        Returns:
            the ``.hvc`` file as bytes.
        """
        target = Target.from_options(target_bytes, target_bpp, target_psnr)
        if target is None:
            return self.compress_batch([image], quality, effort, progress, metadata)[0]
        if quality is not None:
            raise CodecError(f"give a quality or a target_{target.kind}, not both")
        return self._compress_to(image, target, effort, progress, metadata)

    def _compress_to(self, image, target: Target, effort: int, progress, metadata) -> bytes:
        """Search the quality for ``target`` at effort 0 (:func:`codec.targets.search`)."""
        level = _effort(effort)
        keep = metadata_kinds(metadata)
        p = prepare(image)
        kept = kept_metadata(p, metadata, keep)
        h, w = p.pixels.shape[:2]
        features = [f.double().contiguous() for f in self._coder.analyze(to_tensor([p.pixels], self.config.pad_multiple))]
        alpha = p.alpha_chunk()
        files: dict[int, bytes] = {}

        def file_at(milli: int) -> bytes:
            if milli not in files:
                layers = self._coder.encode_features(features, milli / 1000)
                header = container.Header(w, h, p.mode, self.num_layers, milli, self.name, self.digest)
                files[milli] = container.serialize(header, self._coder.encode_streams(layers)[0], alpha, kept)
            return files[milli]

        def measure(milli: int) -> float:
            if target.kind == "psnr":  # the decoder's image, from the encoder's own top-down state
                _, x_hat = self._coder.encode_and_decode(features, milli / 1000)
                return psnr_of(p.pixels, p.mode, to_image(x_hat[0], w, h, p.mode))
            return target.of_file(len(file_at(milli)), w * h)

        milli = search(measure, target, 1000, self.num_qualities * 1000)
        data = file_at(milli)
        if level.steps == 0:
            return data
        refined = self.compress(image, milli / 1000, effort, progress, metadata)
        measured = (psnr_of(p.pixels, p.mode, self.decompress(refined)) if target.kind == "psnr"
                    else target.of_file(len(refined), w * h))
        if target.met(measured):
            return refined
        warnings.warn(f"effort {effort} at quality {milli / 1000:g} missed the target; the effort-0 file "
                      "is returned", CodecWarning, stacklevel=3)
        return data

    def compress_batch(self, images: list, quality: float | None = None, effort: int = 0,
                       progress=None, metadata="all") -> list[bytes]:
        """Compress same-size images in one pass of the network -> one file each."""
        keep = metadata_kinds(metadata)  # checked before any coding
        prepared, batches, milli, w, h = self._encode(list(images), quality, effort, progress)
        streams_all = [s for layers in batches for s in self._coder.encode_streams(layers)]
        files = []
        for p, streams in zip(prepared, streams_all):
            header = container.Header(w, h, p.mode, self.num_layers, milli, self.name, self.digest)
            files.append(container.serialize(header, streams, p.alpha_chunk(), kept_metadata(p, metadata, keep)))
        return files

    def estimate(self, image, quality: float | None = None, effort: int = 0) -> Estimate:
        """Per-layer estimated bits of ``image`` without writing a file."""
        _, batches, milli, w, h = self._encode([image], quality, effort)
        bits = self._coder.layer_bits(batches[0])[0]
        return Estimate(w, h, milli / 1000,
                        tuple(LayerEstimate(float(b), float(b) / (w * h)) for b in bits))

    def check_file(self, parsed: container.Container) -> None:
        hd = parsed.header
        if hd.model_name != self.name or hd.weights_digest != self.digest:
            raise FormatError(f"file was made by model {hd.model_name!r} ({hd.weights_digest.hex()}), "
                              f"not by the loaded {self.name!r} ({self.digest.hex()})")
        if hd.num_layers != self.num_layers:
            raise FormatError(f"file has {hd.num_layers} layers, model {self.name!r} has {self.num_layers}")
        if hd.quality_milli > self.num_qualities * 1000:
            raise FormatError(f"file quality {hd.quality} is outside this model's range")

    def _parse(self, data, layers: int | None, max_pixels: int | None = None):
        parsed = data if isinstance(data, container.Container) else container.parse(data)
        check_pixel_limit(parsed.header, max_pixels)
        self.check_file(parsed)
        streams = list(parsed.chunks)
        if layers is not None:
            if not isinstance(layers, (int, np.integer)) or not 1 <= layers <= self.num_layers:
                raise CodecError(f"layers must be an integer in 1..{self.num_layers}, got {layers!r}")
            streams = streams[:layers]
        hd = parsed.header
        pad = self.config.pad_multiple
        padded = (hd.height + (-hd.height % pad), hd.width + (-hd.width % pad))
        return hd, streams, padded

    def decode_symbols(self, data: bytes):
        """The per-layer symbols and table ids a decoder derives from ``data``
        (:class:`codec.latent_codec.LayerSymbols`, top first); for determinism checks."""
        hd, streams, (H, W) = self._parse(data, None)
        return self._coder.decode_symbols([streams], H, W, hd.quality, hd.version)

    def decompress(self, data: bytes, layers: int | None = None, max_pixels: int | None = None) -> Image.Image:
        """Decode a file (or a prefix of its layers) to a PIL.Image in the original mode.

        Args:
            data: an ``.hvc`` file, possibly cut after its k-th layer chunk.
            layers: decode only the top ``layers`` layers (default: all present).
            max_pixels: refuse files that claim more pixels, before any decoding work
                (:class:`DecompressionBombError`); None: :data:`MAX_DECODE_PIXELS`, 0: no limit.
        Raises:
            FormatError: the file is malformed, corrupted or made by another model.
        """
        parsed = container.parse(data)
        hd, streams, (H, W) = self._parse(parsed, layers, max_pixels)
        x_hat = self._coder.decode([streams], H, W, hd.quality, hd.version)
        image = to_image(x_hat[0], hd.width, hd.height, hd.mode)
        if parsed.alpha is not None:
            image = with_alpha(image, parsed.alpha)
        image.info.update(pillow_info(parsed.metadata))
        return image




def kept_metadata(prepared, metadata, keep: frozenset[str]) -> dict[str, bytes]:
    """What a file stores: the ``metadata=`` dict itself, or the kinds ``keep`` of the image's own."""
    if isinstance(metadata, dict):
        return metadata
    return {k: v for k, v in prepared.metadata.items() if k in keep}


def metadata_kinds(metadata) -> frozenset[str]:
    """The metadata kinds a ``metadata=`` option keeps (see :meth:`Codec.compress`), or a
    one-line CodecError."""
    kinds = container.METADATA_KINDS
    if isinstance(metadata, dict):
        unknown = set(metadata) - set(kinds)
        bad = [k for k, v in metadata.items() if not isinstance(v, (bytes, bytearray))]
        if unknown or bad:
            raise CodecError(f"metadata dict takes kinds {', '.join(kinds)} with bytes values")
        return frozenset(metadata)
    if isinstance(metadata, str):
        words = [w.strip().lower() for w in metadata.split(",") if w.strip()]
    else:
        try:
            words = [str(w).lower() for w in metadata]
        except TypeError:
            raise CodecError(f"metadata must be 'all', 'none', a list of {', '.join(kinds)} or a dict, "
                             f"got {metadata!r}") from None
    if words == ["all"]:
        return frozenset(kinds)
    if words == ["none"] or not words:
        return frozenset()
    unknown = [w for w in words if w not in kinds]
    if unknown:
        raise CodecError(f"unknown metadata kind {unknown[0]!r} (all, none, or a list of {', '.join(kinds)})")
    return frozenset(words)


def check_pixel_limit(header: container.Header, max_pixels: int | None) -> None:
    """Raise :class:`DecompressionBombError` if the file claims more than the limit."""
    limit = MAX_DECODE_PIXELS if max_pixels is None else max_pixels
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0:
        raise CodecError(f"max_pixels must be a non-negative integer (0: no limit), got {max_pixels!r}")
    pixels = header.width * header.height
    if limit and pixels > limit:
        raise DecompressionBombError(
            f"file claims {header.width}x{header.height} = {pixels:,} pixels, over the decoding limit of "
            f"{limit:,} (pass max_pixels, or --max-pixels, to raise it)")


def _effort(effort):
    """The :class:`codec.refine.Effort` of an effort level, or a one-line CodecError."""
    from .efforts import EFFORTS, MAX_EFFORT

    if isinstance(effort, bool) or not isinstance(effort, (int, np.integer)) or not 0 <= effort <= MAX_EFFORT:
        raise CodecError(f"effort must be an integer in 0..{MAX_EFFORT}, got {effort!r}")
    return EFFORTS[int(effort)]


def load(name: str | None = None) -> Codec:
    """Load a shipped model by name (default: the default model of checkpoints/MANIFEST.json)."""
    name, model = load_release(name)
    return Codec(model, name)

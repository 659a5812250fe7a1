"""``.hvc`` in Pillow: ``import codec`` registers the format, so ``Image.open("x.hvc")`` and
``im.save("x.hvc", quality=7)`` work like any other format.

Opening reads the container only (no torch, no model): ``size``, ``mode`` (L, LA, RGB, RGBA)
and ``info`` (``quality``, ``model``, ``layers``: (present, written), and the ``icc_profile``,
``exif`` and ``xmp`` the file carries) are known before ``load()``, which decodes with the
installed model the header names, under the codec's decoding pixel limit
(:data:`codec.container.MAX_DECODE_PIXELS`; ``Image.MAX_IMAGE_PIXELS`` applies as well).

* Saving takes ``quality``, ``effort``, ``model`` and ``metadata`` (see
  :meth:`codec.Codec.compress`), and ``icc_profile=``, ``exif=``, ``xmp=`` as Pillow's own
  writers take them (bytes, or an ``Image.Exif``; empty drops that block). By default the
  image's own ICC profile, EXIF and XMP are kept.
* A file cut exactly after a layer chunk is a progressive prefix and loads as the coarser
  image it is. A file cut inside a chunk, or corrupted, opens (its header is sound) and fails
  in ``load()`` with ``OSError``, unless ``ImageFile.LOAD_TRUNCATED_IMAGES`` is set: then its
  whole, sound layers load (a file without one still fails). A damaged header fails in
  ``Image.open`` (``UnidentifiedImageError``).
* ``draft()`` and ``reduce()`` offer nothing cheaper here: every prefix of layers is still
  synthesized at full resolution (the synthesis is the cost, not the layers), so ``draft()``
  keeps the full size and ``reduce()`` resizes the full decode, as for any format.
"""
from __future__ import annotations

from PIL import Image, ImageFile

from . import container
from .errors import CodecError, FormatError
from .images import PILLOW_KEYS, pillow_info

FORMAT = "HVC"
MIME = "image/x-hvc"
EXTENSION = ".hvc"


def _accept(prefix: bytes) -> bool:
    return prefix[:4] == container.MAGIC


class HvcImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "learned image codec (hierarchical VAE + ANS)"

    def _open(self) -> None:
        data = self.fp.read()
        try:
            header = container.parse_header(data)
        except FormatError as e:
            raise SyntaxError(f"not a valid .hvc file: {e}") from None
        self._size = (header.width, header.height)
        self._mode = header.mode
        try:
            parsed = container.parse(data)
        except FormatError:
            parsed = None  # reported by load(), or cut to its whole layers there
            cut = container.complete_layers(data)
            present = len(container.parse(cut).chunks) if cut is not None else 0
        else:
            present = len(parsed.chunks)
            self.info.update(pillow_info(parsed.metadata))
        self.info.update(quality=header.quality, model=header.model_name, layers=(present, header.num_layers))
        self.tile = [ImageFile._Tile("hvc", (0, 0) + self.size, 0, (len(data),))]


class HvcDecoder(ImageFile.PyDecoder):
    """Decodes the whole file in one call (it reads the file itself)."""

    _pulls_fd = True

    def decode(self, buffer):
        data = self.fd.read(self.args[0])
        try:
            container.parse(data)
        except FormatError as e:
            cut = container.complete_layers(data) if ImageFile.LOAD_TRUNCATED_IMAGES else None
            if cut is None:
                raise OSError(f"broken .hvc file: {e}") from None
            data = cut
        import codec

        try:
            image = codec.decompress(data)
        except CodecError as e:
            raise OSError(f"cannot decode .hvc file: {e}") from None
        if image.mode != self.mode:
            raise OSError(f"decoded a {image.mode} image for a {self.mode} file")
        self.set_as_raw(image.tobytes(), image.mode)
        return -1, 0


def _save(im: Image.Image, fp, filename) -> None:
    import codec

    info = im.encoderinfo
    metadata = _metadata(im, info)
    try:
        data = codec.compress(im, info.get("quality"), model=info.get("model"), effort=info.get("effort", 0),
                              metadata=metadata)
    except CodecError as e:
        raise OSError(f"cannot write .hvc: {e}") from None
    fp.write(data)


def _metadata(im: Image.Image, info: dict) -> dict[str, bytes]:
    """What to store: the kinds the ``metadata`` option keeps from the image, then
    ``icc_profile=``, ``exif=``, ``xmp=`` given to save() in their place."""
    from .api import metadata_kinds
    from .images import image_metadata

    keep = metadata_kinds(info.get("metadata", "all"))
    out = {k: v for k, v in image_metadata(im).items() if k in keep}
    for kind, key in PILLOW_KEYS.items():
        if key in info:
            value = info[key]
            if isinstance(value, Image.Exif):
                value = value.tobytes()
            if isinstance(value, str):
                value = value.encode("utf-8")
            if value:
                out[kind] = bytes(value)
            else:
                out.pop(kind, None)
    return out


def register() -> None:
    Image.register_open(FORMAT, HvcImageFile, _accept)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, EXTENSION)
    Image.register_mime(FORMAT, MIME)
    Image.register_decoder("hvc", HvcDecoder)

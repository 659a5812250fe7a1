"""``ours``: the project's layered codec, through its public API only.

    model = codec.load(name)                      # raises if no trained model: codec skipped
    data  = model.compress(PIL image, quality=q)  # q in [1, model.num_qualities]
    image = model.decompress(data, layers=k)      # PIL image from the first k layers

Besides the usual record, every image carries one :class:`LayerPoint` per prefix of k layers:
the bytes of the file cut after layer k (container header and framing included, from
``codec.container.parse``) and the PSNR of decoding that cut file.

With a :class:`Clock`, the ANS coder's own calls (``codec.ans.TableCoder.encode/decode``) are
timed as the ``entropy`` section; the float64 top-down pass that derives the tables is not.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from PIL import Image

from bench.codecs.base import Codec, CodecUnavailable
from bench.metrics import bits_per_pixel, psnr_rgb_db
from bench.record import Clock, LayerPoint, Record, timed_calls


def prefix_bytes(data: bytes, num_layers: int) -> list[int]:
    """Size of the file cut after layer k, for k = 1..L: header plus the first k chunks.

    Uses ``Container.chunk_sizes`` (payload plus its length/CRC framing).
    """
    from codec import container

    parsed = container.parse(data)
    if len(parsed.chunks) != num_layers:
        raise RuntimeError(f"container holds {len(parsed.chunks)} chunks, model has {num_layers} layers")
    out, total = [], parsed.header_size
    for size in parsed.chunk_sizes:
        total += size
        out.append(total)
    return out


def entropy_clock(clock: Clock | None):
    """Time the ANS coder's calls as ``clock``'s ``entropy`` section: encoding a stream,
    opening one for decoding, and decoding each of its parts (none of these nests another)."""
    from codec.ans import StreamDecoder, TableCoder

    return timed_calls(clock, "entropy", [(TableCoder, "encode_parts"), (TableCoder, "decoder"),
                                          (StreamDecoder, "decode")])


class Ours(Codec):
    name = "ours"
    description = "this project's layered learned codec (codec.load)"

    def __init__(self, model_name: str | None = None, effort: int = 0) -> None:
        try:
            import codec

            self.model = codec.load(name=model_name)
        except Exception as e:  # no model installed, tampered weights, ...
            raise CodecUnavailable(f"ours: codec.load() failed: {type(e).__name__}: {e}") from None
        self.effort = int(effort)
        try:
            self.model.check_options(effort=self.effort)
        except Exception as e:
            raise CodecUnavailable(f"ours: {e}") from None
        self.num_layers = int(self.model.num_layers)
        self.qualities = tuple(float(q) for q in range(1, self.model.num_qualities + 1))

    @property
    def settings(self) -> dict[str, Any]:
        # The weights digest and the file format version key the cache: a retrained model,
        # or a change to the bitstream, is measured afresh.
        from codec.container import VERSION

        settings = {"num_layers": self.num_layers, "name": self.model.name, "format": VERSION,
                    "digest": self.model.digest.hex()}
        if self.effort:  # effort 0 keeps the keys of the runs made before effort levels existed
            from codec.refine import EFFORTS

            settings["effort"] = {"level": self.effort, **vars(EFFORTS[self.effort])}
        return settings

    def encode(self, image: np.ndarray, quality: float, clock: Clock | None = None) -> bytes:
        with entropy_clock(clock):
            return self.model.compress(Image.fromarray(image), quality=float(quality), effort=self.effort)

    def decode(self, data: bytes, clock: Clock | None = None, layers: int | None = None) -> np.ndarray:
        with entropy_clock(clock):
            image = self.model.decompress(data, layers=layers)
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()

    def run(self, image: np.ndarray, quality: float, image_name: str = "",
            with_ms_ssim: bool = True) -> Record:
        data, decoded, encode_seconds, decode_seconds = self.timed_round_trip(image, quality)
        record = self.score(image, quality, data, decoded, encode_seconds, decode_seconds,
                            image_name, with_ms_ssim)
        height, width = image.shape[:2]
        prefixes = prefix_bytes(data, self.num_layers)
        points = []
        for k, num_bytes in enumerate(prefixes, start=1):
            # Decode the file really cut after layer k: what a progressive reader gets.
            decoded_k = decoded if k == self.num_layers else self.decode(data[:num_bytes], layers=k)
            points.append(LayerPoint(k, num_bytes, bits_per_pixel(num_bytes, width, height),
                                     psnr_rgb_db(image, decoded_k)))
        if points[-1].num_bytes != len(data):
            raise RuntimeError("ours: the last layer prefix is not the whole file")
        return replace(record, layers=tuple(points))

"""``mbt2018-mean``: the learned peer at equal budget, coded by CompressAI's own code.

CompressAI's ``MeanScaleHyperprior`` (Minnen et al. 2018), trained by ``codec train --arch
mbt2018-mean`` on our training data with our steps, batch, crops and schedule, shipped as
``checkpoints/peers/<name>.safetensors`` (``codec export``). ``encode`` is
``net.compress`` and ``decode`` is ``net.decompress``; the file around their two strings is

    b"MBT1" | height u16 | width u16 | z height u16 | z width u16 | len(z string) u32 | z | y

(16 bytes of header, big-endian), so the rate counts everything a decoder needs besides the
weights. Images are padded to a multiple of 64 by repeating edge pixels, as our codec does.
"""
from __future__ import annotations

import struct
from typing import Any

import numpy as np

from bench.codecs.base import Codec, CodecUnavailable
from bench.record import Clock, timed_calls

MAGIC = b"MBT1"
HEADER = struct.Struct(">4sHHHHI")
MULTIPLE = 64


class Mbt2018Mean(Codec):
    name = "mbt2018-mean"
    description = "CompressAI mbt2018-mean trained here at equal budget (codec train --arch mbt2018-mean)"
    qualities = (1.0,)  # one lambda per trained model

    def __init__(self, peer_name: str = "mbt2018-mean") -> None:
        try:
            import compressai
            import torch

            from codec.training.peer import load_peer

            self.model, self.entry = load_peer(peer_name)
        except Exception as e:  # compressai missing, no shipped peer, bad file
            raise CodecUnavailable(f"{self.name}: {type(e).__name__}: {e}") from None
        self.torch = torch
        self.net = self.model.net
        self.peer_name = peer_name
        self.compressai_version = compressai.__version__
        cfg = self.model.config
        self.description = (f"CompressAI mbt2018-mean (N={cfg.N}, M={cfg.M}, lambda={cfg.lmbda}), "
                            f"trained here for {self.entry.get('step')} steps")

    @property
    def settings(self) -> dict[str, Any]:
        return {"peer": self.peer_name, "sha256": self.entry["sha256"], "step": self.entry.get("step"),
                "config": self.model.config.to_json(), "compressai": self.compressai_version,
                "padding": f"edge, multiple of {MULTIPLE}", "format": MAGIC.decode()}

    def _entropy_clock(self, clock: Clock | None):
        """Time CompressAI's entropy coder calls as the ``entropy`` section, without changing them."""
        modules = (self.net.entropy_bottleneck, self.net.gaussian_conditional)
        return timed_calls(clock, "entropy", [(m, f) for m in modules for f in ("compress", "decompress")])

    def encode(self, image: np.ndarray, quality: float, clock: Clock | None = None) -> bytes:
        from codec.images import batch_tensor  # torch: loaded with the peer, not with the registry

        torch = self.torch
        height, width = image.shape[:2]
        if max(height, width) > 0xFFFF:
            raise ValueError(f"{self.name}: image {width}x{height} is too large for the header")
        ph, pw = -height % MULTIPLE, -width % MULTIPLE
        padded = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge")
        x = batch_tensor(padded)
        with torch.no_grad(), self._entropy_clock(clock):
            out = self.net.compress(x)
        (y_string,), (z_string,) = out["strings"]
        zh, zw = out["shape"]
        return HEADER.pack(MAGIC, height, width, zh, zw, len(z_string)) + z_string + y_string

    def decode(self, data: bytes, clock: Clock | None = None) -> np.ndarray:
        torch = self.torch
        if len(data) < HEADER.size:
            raise ValueError(f"{self.name}: file too short")
        magic, height, width, zh, zw, z_len = HEADER.unpack_from(data)
        if magic != MAGIC or HEADER.size + z_len > len(data):
            raise ValueError(f"{self.name}: not an {MAGIC.decode()} file")
        z_string = data[HEADER.size:HEADER.size + z_len]
        y_string = data[HEADER.size + z_len:]
        with torch.no_grad(), self._entropy_clock(clock):
            x_hat = self.net.decompress([[y_string], [z_string]], (zh, zw))["x_hat"]
        x_hat = x_hat[0, :, :height, :width].clamp(0, 1).mul(255).round().byte()
        return x_hat.permute(1, 2, 0).contiguous().numpy()


class ZooWidthPeer(Mbt2018Mean):
    """A CompressAI model at the widths of its published zoo models, with seeded random weights:
    for ``bench speed`` only (coding time does not depend on the trained weights; the rate and
    PSNR of random weights mean nothing, so these never enter a rate-distortion run)."""

    architecture = "mbt2018-mean"
    widths = (192, 320)  # N, M of CompressAI's mbt2018-mean zoo qualities 5-8

    def __init__(self) -> None:
        try:
            import compressai
            import torch
            from compressai.models import MeanScaleHyperprior, ScaleHyperprior
        except Exception as e:
            raise CodecUnavailable(f"{self.name}: {type(e).__name__}: {e}") from None
        self.torch = torch
        n, m = self.widths
        torch.manual_seed(0)
        cls = MeanScaleHyperprior if self.architecture == "mbt2018-mean" else ScaleHyperprior
        self.net = cls(N=n, M=m).eval()
        self.net.update(force=True)
        self.peer_name = f"{self.architecture} N={n} M={m} (random weights)"
        self.compressai_version = compressai.__version__
        self.description = f"CompressAI {self.architecture} at zoo widths N={n}, M={m}, random weights: speed only"

    @property
    def settings(self) -> dict[str, Any]:
        return {"peer": self.peer_name, "compressai": self.compressai_version, "format": MAGIC.decode(),
                "padding": f"edge, multiple of {MULTIPLE}"}


class Mbt2018MeanZoo(ZooWidthPeer):
    name = "mbt2018-mean-zoo"


class Bmshj2018HyperpriorZoo(ZooWidthPeer):
    name = "bmshj2018-hyperprior-zoo"
    architecture = "bmshj2018-hyperprior"
    widths = (128, 192)  # N, M of CompressAI's bmshj2018-hyperprior zoo qualities 1-5

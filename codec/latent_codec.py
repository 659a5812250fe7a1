"""From images to per-layer symbols and back: the model's top-down pass at coding time.

Encoder and decoder run the model's one top-down pass (:meth:`HierarchicalVAE.top_down`)
with the same :class:`CodingPolicy`; they differ only in where a layer's symbols come from
(the posterior, rounded, or the ANS stream).
The top-down modules run in float64 on a private copy of the model and their outputs
are snapped (:mod:`codec.entropy_params`), so both sides derive identical table ids.
The full-resolution transforms ``g_a`` and ``g_s`` run in float32: they do not decide
any probability.

What the arithmetic is depends on the file's format version (``version`` below): 2 runs
``g_s`` in one pass, 3 over tiles (:data:`TILE`), 4 also runs the top-down convolutions in
bands of rows (:mod:`codec.bands`), 5 also the finest layer as a whole, from its prior to its
symbols, and codes that layer band by band. Encoder and decoder of one version do the same.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from .ans import MAX_MAGNITUDE, TableCoder
from . import bands
from .container import VERSION
from .entropy_params import factorized_coder, gaussian_coder, scale_index, snap_mu
from .model import HierarchicalVAE, LayerPrior


# The full-resolution transforms run over tiles of TILE x TILE finest-layer latents (TILE * 16 =
# 1024 pixels a side) with HALO latents of overlap on each side, so their memory is bounded by
# the tile, not the image; an image within one tile runs in one piece, as before. The layout
# depends on the image size only. The transforms see less than 2 latents around a position (5x5
# kernels, stride 2, four times), so with a halo of 4 every tile computes the values of a
# whole-image pass up to float rounding (about 4e-7: the convolution sums in another order for
# another window size), which moved 3 of 2,088,960 8-bit values by 1 in a test of 2 x 3 tiles.
# So files of format version 2 (written before tiling) decode in one pass, to their old pixels,
# and tiled synthesis is what format version 3 specifies.
TILE = 64
HALO = 4


def tiles(h: int, w: int):
    """((i0, i1, j0, j1), (a, b, c, d)) per tile of an h x w latent grid: the latents it delivers
    and the window (halo included, cut at the borders) it is computed from."""
    for i0 in range(0, h, TILE):
        for j0 in range(0, w, TILE):
            i1, j1 = min(h, i0 + TILE), min(w, j0 + TILE)
            yield (i0, i1, j0, j1), (max(0, i0 - HALO), min(h, i1 + HALO), max(0, j0 - HALO), min(w, j1 + HALO))


@dataclass(frozen=True)
class Part:
    """One coding pass's share of a layer: its ``rows`` (all, or a band's) and, within them, the
    (rows, w) bool ``mask`` of its positions (None: every position of the rows)."""

    rows: slice
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class LayerSymbols:
    """Symbols of one layer for a batch: values (int32: |value| <= MAX_MAGNITUDE < 2^31) and table
    ids (int16: fewer than 2^15 tables), both (N, C, h, w); narrow, because at coding time the
    finest layer's arrays are as large as the image (the coder widens each part it codes).

    ``parts``: for a layer coded in several passes (a checkerboard context, bands of rows), the
    :class:`Part` of each pass, in coding order; None for one pass over the whole layer.
    """

    values: np.ndarray
    table_ids: np.ndarray
    parts: tuple[Part, ...] | None = None

    def split(self, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(values, table ids) of image n, one pair per coding pass."""
        if self.parts is None:
            return [(self.values[n], self.table_ids[n])]
        out = []
        for part in self.parts:
            values, ids = self.values[n][:, part.rows], self.table_ids[n][:, part.rows]
            out.append((values, ids) if part.mask is None else (values[:, part.mask], ids[:, part.mask]))
        return out


def band_of(array: np.ndarray, prior: LayerPrior | None) -> np.ndarray:
    """The rows of a whole layer's (N, C, h, w) ``array`` that ``prior`` covers."""
    return array if prior is None or prior.band is None else array[:, :, prior.band.rows]


# (layer k, table ids (N, C, h, w), the layer's prior with its mean snapped, or None for the
# top layer) -> symbol values (N, C, h, w), an int32 array the policy keeps and may write into
# at later passes' positions. Only the values at ``prior.mask`` are used.
SymbolSource = Callable[[int, np.ndarray, LayerPrior | None], np.ndarray]


class CodingPolicy:
    """The coding-time policy of :meth:`HierarchicalVAE.top_down`: the prior means are snapped
    and the stds mapped to table ids (:mod:`codec.entropy_params`), a layer's symbols come from
    ``source`` and ŷ = snapped mu + symbol * step. Records each layer's :class:`LayerSymbols`
    unless ``record`` is off (the decoder's image needs only ŷ: at 24 MP the finest layer's
    symbols and table ids alone are 144 MB)."""

    def __init__(self, batch: int, channels: int, height: int, width: int, source: SymbolSource,
                 record: bool = True):
        self.top_ids = np.broadcast_to(np.arange(channels, dtype=np.int16).reshape(1, -1, 1, 1),
                                       (batch, channels, height, width)).copy()
        self.source = source
        self.record = record
        self.layers: list[LayerSymbols] = []

    def top(self) -> torch.Tensor:
        values = self.source(0, self.top_ids, None)
        if self.record:
            self.layers.append(LayerSymbols(values, self.top_ids))
        return torch.from_numpy(values).double()

    def latent(self, prior: LayerPrior) -> torch.Tensor:
        prior = replace(prior, mu=snap_mu(prior.mu))
        ids = scale_index(prior.sigma / prior.step).to(torch.int16).numpy()
        values = self.source(prior.k, ids, prior)
        if not self.record:
            del ids
        elif prior.band is not None:
            self._record_band(prior, values, ids)
        elif prior.mask is None:
            self.layers.append(LayerSymbols(values, ids))
        else:  # one pass of several: its positions, over what the earlier passes found
            mask = prior.mask.numpy()
            earlier = self.layers[prior.k] if len(self.layers) > prior.k else None
            if earlier is None:
                self.layers.append(LayerSymbols(values, ids, (Part(slice(None), mask),)))
            else:  # in place: at coding time these arrays are as large as the layer
                np.copyto(earlier.values, values, where=mask)
                np.copyto(earlier.table_ids, ids, where=mask)
                self.layers[prior.k] = replace(earlier, parts=earlier.parts + (Part(slice(None), mask),))
                del ids
        y_hat = torch.from_numpy(values).double()
        del values
        return y_hat.mul_(prior.step).add_(prior.mu)

    def _record_band(self, prior: LayerPrior, values: np.ndarray, ids: np.ndarray) -> None:
        """One band's pass: its symbols into the layer's arrays (made at its first band)."""
        band, mask = prior.band, None if prior.mask is None else prior.mask.numpy()
        if len(self.layers) <= prior.k:
            shape = values.shape[:2] + (band.height, values.shape[3])
            self.layers.append(LayerSymbols(np.zeros(shape, np.int32), np.zeros(shape, np.int16), ()))
        layer = self.layers[prior.k]
        rows_values, rows_ids = layer.values[:, :, band.rows], layer.table_ids[:, :, band.rows]
        if mask is None:
            rows_values[...], rows_ids[...] = values, ids
        else:
            np.copyto(rows_values, values, where=mask)
            np.copyto(rows_ids, ids, where=mask)
        self.layers[prior.k] = replace(layer, parts=layer.parts + (Part(band.rows, mask),))


class LatentCoder:
    """Wraps a trained model for coding; tables are built here, once."""

    def __init__(self, model: HierarchicalVAE):
        self.top_down_model = copy.deepcopy(model).double().eval()
        self.banded_model = bands.banded(self.top_down_model, model.TOP_DOWN_MODULES)  # the same weights (format version 4)
        # channels_last runs the full-resolution convolutions and GDNs ~1.7x faster on CPU.
        self.model = copy.deepcopy(model).float().eval().to(memory_format=torch.channels_last)
        self.model.requires_grad_(False)  # inference only (encode-time refinement optimizes latents)
        self._on_device: dict[torch.device, HierarchicalVAE] = {}
        self.config = model.config
        with torch.no_grad():
            self.coders: list[TableCoder] = [factorized_coder(self.top_down_model.top_density)]
        self.coders += [gaussian_coder()] * (self.config.num_layers - 1)

    def model_on(self, device: torch.device) -> HierarchicalVAE:
        """The float32 model on another device (encode-time refinement on a GPU), made once."""
        if device not in self._on_device:
            self._on_device[device] = copy.deepcopy(self.model).to(device)
        return self._on_device[device]

    # -- the shared pass ----------------------------------------------------------------
    @torch.no_grad()
    def _top_down(self, batch: int, height: int, width: int, quality: float,
                  source: SymbolSource, version: int = VERSION,
                  record: bool = True) -> tuple[torch.Tensor, list[LayerSymbols]]:
        top = self.config.strides[0]
        policy = CodingPolicy(batch, self.config.latent_channels[0], height // top, width // top, source, record)
        q = torch.full((batch,), quality, dtype=torch.float64)
        model = self.banded_model if version >= 4 else self.top_down_model
        t = model.top_down(policy, q, bands.LAYER_BAND_POSITIONS if version >= 5 else None)
        return t, policy.layers

    def _synthesize(self, t: torch.Tensor, version: int = VERSION) -> torch.Tensor:
        """The last top-down state (N, C, h, w) -> x_hat (N, 3, 16 h, 16 w) in [0, 1], over tiles
        (format version 3 and later) or in one pass (version 2)."""
        t = t.float()
        N, _, h, w = t.shape
        if version < 3 or (h <= TILE and w <= TILE):
            return self.model.g_s(t.contiguous(memory_format=torch.channels_last)).clamp_(0, 1).contiguous()
        s = self.config.base_stride
        out = torch.empty(N, 3, h * s, w * s)
        for (i0, i1, j0, j1), (a, b, c, d) in tiles(h, w):
            y = self.model.g_s(t[:, :, a:b, c:d].contiguous(memory_format=torch.channels_last))
            out[:, :, i0 * s:i1 * s, j0 * s:j1 * s] = y[:, :, (i0 - a) * s:(i1 - a) * s, (j0 - c) * s:(j1 - c) * s]
        return out.clamp_(0, 1)

    # -- encoder ------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor, quality: float) -> list[LayerSymbols]:
        """x: (N, 3, H, W) float32 in [0, 1], H and W multiples of the top stride."""
        return self.encode_features(self.analyze(x), quality)

    @torch.no_grad()
    def analyze(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The bottom-up features of x (float32, top first): what :meth:`encode_features` rounds.
        ``g_a`` runs over tiles (see :data:`TILE`)."""
        s = self.config.base_stride
        N, _, H, W = x.shape
        h, w = H // s, W // s
        if h <= TILE and w <= TILE:
            return self.model.bottom_up(x.contiguous(memory_format=torch.channels_last))
        f = None
        for (i0, i1, j0, j1), (a, b, c, d) in tiles(h, w):
            y = self.model.g_a(x[:, :, a * s:b * s, c * s:d * s].contiguous(memory_format=torch.channels_last))
            if f is None:
                f = torch.empty(N, y.shape[1], h, w)
            f[:, :, i0:i1, j0:j1] = y[:, :, i0 - a:i1 - a, j0 - c:j1 - c]
        return self.model.hyper_analysis(f.contiguous(memory_format=torch.channels_last))

    @torch.no_grad()
    def encode_features(self, features: list[torch.Tensor], quality: float) -> list[LayerSymbols]:
        """The symbols of given bottom-up features (the encoder's own, or refined ones): each
        layer's residual against its snapped prior mean, rounded, as the decoder will see it."""
        return self._encode_features(features, quality)[1]

    @torch.no_grad()
    def encode_and_decode(self, features: list[torch.Tensor], quality: float) -> tuple[list[LayerSymbols], torch.Tensor]:
        """The symbols of ``features`` and the image their file decodes to (the encoder's own
        top-down state is the decoder's: the same symbols under the same priors)."""
        t, layers = self._encode_features(features, quality)
        return layers, self._synthesize(t)

    def _encode_features(self, features, quality):
        feats = [f.detach().double().contiguous() for f in features]

        def posterior_symbols(k: int, ids: np.ndarray, prior: LayerPrior | None) -> np.ndarray:
            # round((f - mu) / step), in one copy of the layer
            if k == 0:
                v = torch.round(feats[0])
            else:
                f = feats[k] if prior.band is None else feats[k][:, :, prior.band.rows]
                v = f.sub(prior.mu).div_(prior.step).round_()
            # Values outside a table's support are escaped by the coder, not clipped; only a
            # broken model could exceed MAX_MAGNITUDE.
            return v.clamp_(-MAX_MAGNITUDE, MAX_MAGNITUDE).to(torch.int32).numpy()

        top = self.config.strides[0]
        return self._top_down(feats[0].shape[0], feats[0].shape[2] * top, feats[0].shape[3] * top,
                              quality, posterior_symbols)

    # -- decoder ------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, streams: list[list[bytes]], height: int, width: int,
               quality: float, version: int = VERSION) -> torch.Tensor:
        """streams[n][k]: layer k of image n, for a prefix of layers (absent layers are
        decoded as their prior means, i.e. symbol 0). -> (N, 3, H, W) float32 in [0, 1].
        ``version``: the format version the streams were written in."""
        t, _ = self._decode_top_down(streams, height, width, quality, version, record=False)
        return self._synthesize(t, version)

    @torch.no_grad()
    def decode_symbols(self, streams: list[list[bytes]], height: int, width: int,
                       quality: float, version: int = VERSION) -> list[LayerSymbols]:
        """The symbols and table ids the decoder derives (for determinism checks)."""
        return self._decode_top_down(streams, height, width, quality, version)[1]

    def _decode_top_down(self, streams, height, width, quality, version, record=True):

        decoders: dict[tuple[int, int], object] = {}  # (image, layer) -> its open stream

        def stream_symbols(k: int, ids: np.ndarray, prior: LayerPrior | None) -> np.ndarray:
            out = np.zeros(ids.shape, dtype=np.int32)
            mask = None if prior is None or prior.mask is None else prior.mask.numpy()
            for n, image_streams in enumerate(streams):
                if k >= len(image_streams):
                    continue
                if (n, k) not in decoders:
                    decoders[n, k] = self.coders[k].decoder(image_streams[k])
                if mask is None:
                    out[n] = decoders[n, k].decode(ids[n]).reshape(ids.shape[1:])
                else:
                    out[n][:, mask] = decoders[n, k].decode(ids[n][:, mask]).reshape(ids.shape[1], -1)
            return out

        return self._top_down(len(streams), height, width, quality, stream_symbols, version, record)

    @torch.no_grad()
    def reconstruct(self, layers: list[LayerSymbols], height: int, width: int,
                    quality: float) -> torch.Tensor:
        """The decoder's output for known symbols (no entropy coding)."""
        t, _ = self._top_down(layers[0].values.shape[0], height, width, quality,
                              lambda k, ids, prior: band_of(layers[k].values, prior), record=False)
        return self._synthesize(t)

    def layer_bits(self, layers: list[LayerSymbols]) -> np.ndarray:
        """Information content per image and layer, (N, L) float64 bits."""
        N = layers[0].values.shape[0]
        return np.array([[self.coders[k].bits(layer.values[n], layer.table_ids[n])
                          for k, layer in enumerate(layers)] for n in range(N)])

    def encode_streams(self, layers: list[LayerSymbols]) -> list[list[bytes]]:
        """-> streams[n][k], one independent ANS stream per image and layer."""
        N = layers[0].values.shape[0]
        return [[self.coders[k].encode_parts(layer.split(n))
                 for k, layer in enumerate(layers)] for n in range(N)]

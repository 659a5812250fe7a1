"""The top-down pass's convolutions in bands of rows (format version 4): memory bounded by the band.

PyTorch runs a float64 convolution on the CPU as one matrix product over an im2col copy of the
whole input (kernel area x input channels x positions): for the finest layer's 5x5 context at 24
MP that is 6.6 GB, and its transposed 5x5 upsampling needs 0.45 GB of columns. Here each such
convolution runs over bands of output rows, each from the input rows it needs (its halo), so the
copies are bounded by :data:`BAND_POSITIONS`. A band computes every value of the whole-image
convolution, but its matrix product sums in another blocking, so values may differ in the last
bit (measured: up to about 1e-16 relative); the snapped entropy parameters almost never see that,
yet almost never is not never. So banding is part of what a version 4 file means, encoder and
decoder band alike, and files of versions 2 and 3 decode with the whole-image pass they were
written with. The band layout depends only on the tensor's shape.

Format version 5 also computes the finest layer itself in bands of rows (:data:`LAYER_BAND_POSITIONS`
positions each, :meth:`codec.model.HierarchicalVAE.top_down`): its prior, the entropy parameters,
the symbols and the checkerboard context run band by band (:func:`rows_of`), so no tensor of the
prior's or the context's width (512 channels of float64: 385 MB at 24 MP) is ever made for the
whole layer. Its symbols are coded band by band, a band's other half once the next band's anchors
are known (anchors 0, anchors 1, rest 0, anchors 2, rest 1, ...): that order is what the layer's
stream in a version 5 file holds. A layer within one band is coded as in version 4, to the same
bytes.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

# Output positions (rows x width) per band: im2col of the finest layer's 5x5 context (352 input
# channels) is then at most 1024 * 25 * 352 * 8 B = 72 MB.
BAND_POSITIONS = 1024

# Positions (rows x width) per band of the finest layer in format version 5: its largest band
# tensor, the prior's 512 channels of float64 with the context's halo, is then about 40 MB, and a
# 768x512 image (48 x 32 latents) is one band.
LAYER_BAND_POSITIONS = 8192


def band_rows(width: int) -> int:
    """Output rows per band for an output ``width`` wide (at least one row)."""
    return max(1, BAND_POSITIONS // max(1, width))


class BandedConv2d(nn.Module):
    """A stride-1 ``nn.Conv2d`` with 'same' padding, computed over bands of output rows."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1 or \
                conv.padding != (conv.kernel_size[0] // 2, conv.kernel_size[1] // 2):
            raise ValueError(f"only stride-1 'same' convolutions are banded, not {conv}")
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if band_rows(w) >= h:
            return self.conv(x)
        p = self.conv.padding[0]
        return self.window(x, p, p)  # the rows outside the image are the zero padding

    def window(self, x: torch.Tensor, top: int, bottom: int) -> torch.Tensor:
        """The convolution over rows of an input with ``top`` and ``bottom`` zero rows added and
        none elsewhere (the rows of a band, :func:`rows_of`): output row o from the padded rows
        o .. o + 2p, so ``rows + top + bottom - 2p`` rows, each band of output rows from the input
        rows it needs, written into one output (no concatenation)."""
        h, w = x.shape[-2:]
        conv, p = self.conv, self.conv.padding[0]
        n = h + top + bottom - 2 * p
        out = x.new_empty(x.shape[0], conv.out_channels, n, w)
        rows = band_rows(w)
        for o0 in range(0, n, rows):
            o1 = min(n, o0 + rows)
            a, b = o0 - top, o1 - top + 2 * p  # the input rows they need, outside x where padded
            band = F.pad(x[..., max(0, a):min(h, b), :], (0, 0, max(0, -a), max(0, b - h)))
            out[..., o0:o1, :] = F.conv2d(band, conv.weight, conv.bias, 1, (0, conv.padding[1]))
        return out


def _row_padding(module: nn.Module) -> int:
    """Rows of zero padding a module of a :func:`rows_of` sequence adds on each side (0: rowwise)."""
    conv = module.conv if isinstance(module, BandedConv2d) else module
    if isinstance(conv, nn.Conv2d):
        if conv.stride != (1, 1) or conv.padding[0] != conv.kernel_size[0] // 2:
            raise ValueError(f"only stride-1 'same' convolutions have rows of their own, not {conv}")
        return conv.padding[0]
    if isinstance(module, (nn.LeakyReLU, nn.ReLU, nn.Identity)):
        return 0
    raise ValueError(f"{module} is not known to act row by row")


def row_halo(seq: nn.Sequential) -> int:
    """Rows of input above and below an output row that ``seq`` reads (see :func:`rows_of`)."""
    return sum(_row_padding(m) for m in seq)


def rows_of(seq: nn.Sequential, rows: Callable[[int, int], torch.Tensor], height: int,
            r0: int, r1: int) -> torch.Tensor:
    """Rows ``r0:r1`` of ``seq(x)`` for an input of ``height`` rows, computed from the rows it
    needs (``rows(a, b)`` gives ``x[..., a:b, :]``): ``seq`` is stride-1 'same' convolutions and
    pointwise activations, each convolution zero-padded only at the image's edges (format
    version 5's bands of the finest layer; the matrix products block differently from the
    whole-image pass's, so values may differ from it in the last bit)."""
    halo = row_halo(seq)
    a, b = max(0, r0 - halo), min(height, r1 + halo)
    y = rows(a, b)
    for m in seq:
        p = _row_padding(m)
        if p:
            top, bottom = (p if a == 0 else 0), (p if b == height else 0)
            y = (m if isinstance(m, BandedConv2d) else BandedConv2d(m)).window(y, top, bottom)
            a, b = a + p - top, b - p + bottom
        else:
            y = m(y)
    return y[..., r0 - a:r1 - a, :]


class BandedConvTranspose2d(nn.Module):
    """An ``nn.ConvTranspose2d`` computed over bands of output rows, each from its input rows."""

    def __init__(self, conv: nn.ConvTranspose2d):
        super().__init__()
        if conv.dilation != (1, 1) or conv.groups != 1:
            raise ValueError(f"only plain transposed convolutions are banded, not {conv}")
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h_in = x.shape[-2]
        s, k, p, op = self.conv.stride[0], self.conv.kernel_size[0], self.conv.padding[0], self.conv.output_padding[0]
        h = (h_in - 1) * s - 2 * p + k + op  # output rows
        w = (x.shape[-1] - 1) * self.conv.stride[1] - 2 * self.conv.padding[1] + self.conv.kernel_size[1] \
            + self.conv.output_padding[1]
        rows = band_rows(w)
        if rows >= h:
            return self.conv(x)
        out = x.new_empty(x.shape[0], self.conv.out_channels, h, w)
        for o0 in range(0, h, rows):
            o1 = min(h, o0 + rows)
            # Output row o takes input rows i with 0 <= o + p - s * i < k.
            a = max(0, -(-(o0 + p - k + 1) // s))
            b = min(h_in, (o1 - 1 + p) // s + 1)
            # The band's own output row r is the whole output's row s * a + r (same sums); rows
            # whose inputs reach past the band are not taken.
            y = self.conv(x[..., a:b, :])
            if y.shape[-2] < o1 - s * a:
                raise ValueError(f"{self.conv} cannot be banded: a band misses output rows")
            out[..., o0:o1, :] = y[..., o0 - s * a:o1 - s * a, :]
        return out


def banded(module: nn.Module, parts: tuple[str, ...]) -> nn.Module:
    """A copy of ``module`` whose submodules named in ``parts`` run their convolutions with a
    kernel larger than 1x1 in bands; it shares the parameters and buffers of ``module`` (no
    second copy of the weights)."""
    shared = {id(t): t for t in [*module.parameters(), *module.buffers()]}
    module = copy.deepcopy(module, memo=shared)
    for name, child in list(module.named_modules()):
        for attr, sub in list(child.named_children()):
            if (f"{name}.{attr}" if name else attr).split(".")[0] not in parts:
                continue
            if isinstance(sub, nn.ConvTranspose2d):
                setattr(child, attr, BandedConvTranspose2d(sub))
            elif isinstance(sub, nn.Conv2d) and sub.kernel_size != (1, 1):
                setattr(child, attr, BandedConv2d(sub))
    return module

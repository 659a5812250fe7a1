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
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

# Output positions (rows x width) per band: im2col of the finest layer's 5x5 context (352 input
# channels) is then at most 1024 * 25 * 352 * 8 B = 72 MB.
BAND_POSITIONS = 1024


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
        rows, p = band_rows(w), self.conv.padding[0]
        if rows >= h:
            return self.conv(x)
        conv = self.conv
        out = x.new_empty(x.shape[0], conv.out_channels, h, w)  # written band by band (no concatenation)
        for r0 in range(0, h, rows):
            r1 = min(h, r0 + rows)
            a, b = max(0, r0 - p), min(h, r1 + p)
            # The rows outside the image are the zero padding; the band computes only its own rows.
            band = F.pad(x[..., a:b, :], (0, 0, p - (r0 - a), p - (b - r1)))
            out[..., r0:r1, :] = F.conv2d(band, conv.weight, conv.bias, 1, (0, conv.padding[1]))
        return out


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

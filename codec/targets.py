"""A file size, bits per pixel or PSNR asked for instead of a quality number.

The quality is continuous (stored in thousandths), so the codec searches it: the image is
analysed once (the bottom-up features do not depend on the quality), then each probe runs
the top-down pass at one quality and measures the real thing, the bytes of the file it would
write (alpha and metadata chunks included) or the PSNR of the image the decoder would give
back. Bytes and PSNR grow with the quality, so a safeguarded interpolation search finds, to
0.01 of a quality, the highest quality within a size or the lowest that reaches a PSNR. With an effort above 0 the search runs at effort 0 and the file at
the quality found is then refined; a refined file that misses the target is replaced by the
effort-0 one (with a :class:`CodecWarning`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import CodecError
from .metrics import psnr_rgb_db

RESOLUTION = 10  # the search stops at this many thousandths of a quality


@dataclass(frozen=True)
class Target:
    """What to reach: ``kind`` is ``bytes`` (at most), ``bpp`` (at most) or ``psnr`` (at least)."""

    kind: str
    value: float

    @classmethod
    def from_options(cls, target_bytes=None, target_bpp=None, target_psnr=None) -> "Target | None":
        given = {k: v for k, v in (("bytes", target_bytes), ("bpp", target_bpp), ("psnr", target_psnr))
                 if v is not None}
        if not given:
            return None
        if len(given) > 1:
            raise CodecError(f"give one target, not {' and '.join('target_' + k for k in given)}")
        kind, value = given.popitem()
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise CodecError(f"target_{kind} must be a number, got {value!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise CodecError(f"target_{kind} must be a positive number, got {value}")
        return cls(kind, value)

    def of_file(self, num_bytes: int, pixels: int) -> float:
        """What a size target measures of a file of ``num_bytes`` for ``pixels`` pixels."""
        return num_bytes if self.kind == "bytes" else 8 * num_bytes / pixels

    def met(self, measured: float) -> bool:
        return measured >= self.value if self.kind == "psnr" else measured <= self.value

    def describe(self, measured: float) -> str:
        return {"bytes": f"{measured:,.0f} bytes", "bpp": f"{measured:.4f} bpp", "psnr": f"{measured:.2f} dB"}[self.kind]


def search(measure, target: Target, lowest: int, highest: int) -> int:
    """The quality (thousandths) to code at: for a size, the highest whose file is within it;
    for a PSNR, the lowest that reaches it. ``measure(milli)`` -> bytes, bpp or dB.

    Raises:
        CodecError: in one line, naming the nearest reachable value, when no quality meets it.
    """
    want = target.kind == "psnr"  # True: find the lowest quality that meets it
    edge = highest if want else lowest
    at_edge = measure(edge)
    if not target.met(at_edge):
        side = "highest" if want else "lowest"
        raise CodecError(f"cannot reach {target.describe(target.value)}: the {side} quality "
                         f"({edge / 1000:g}) gives {target.describe(at_edge)}")
    other = lowest if want else highest
    if target.met(measure(other)):
        return other
    # ok meets it, bad does not; the answer lies between. Bytes grow about exponentially and
    # PSNR about linearly with the quality, so the next probe interpolates log bytes (or dB)
    # between the two; a probe that does not halve the bracket is followed by a bisection.
    ok, bad = edge, other
    f = {ok: _gap(target, at_edge), bad: _gap(target, measure(other))}
    bisect = False
    while abs(ok - bad) > RESOLUTION:
        width = abs(ok - bad)
        if bisect or f[bad] == f[ok]:
            mid = (ok + bad) // 2
        else:
            mid = round(ok + (bad - ok) * f[ok] / (f[ok] - f[bad]))
            lo, hi = sorted((ok, bad))
            mid = min(max(mid, lo + RESOLUTION // 2), hi - RESOLUTION // 2)
        value = measure(mid)
        f[mid] = _gap(target, value)
        if target.met(value):
            ok = mid
        else:
            bad = mid
        bisect = not bisect and abs(ok - bad) > width / 2
    return ok


def _gap(target: Target, measured: float) -> float:
    """How far a measurement is from the target, signed: >= 0 when it is met."""
    if target.kind == "psnr":
        return measured - target.value
    return math.log(target.value) - math.log(max(measured, 1e-9))


def psnr_of(pixels: np.ndarray, mode: str, decoded) -> float:
    """PSNR of the decoded colour planes against the ones coded (gray images in L)."""
    if mode in ("L", "LA"):
        return psnr_rgb_db(pixels[..., 0], np.asarray(decoded.convert("L")))
    return psnr_rgb_db(pixels, np.asarray(decoded.convert("RGB")))

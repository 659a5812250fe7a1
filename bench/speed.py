"""``python -m bench speed``: how fast each codec codes one 768x512 image, and its memory peak.

Per codec: the sweep quality whose rate is nearest ``--bpp`` (so codecs are timed at equal
rate), then, in a fresh process, one warm-up and ``--repeats`` encode/decode pairs.

- seconds: median over the repeats; MB/s: raw 8-bit RGB megabytes (W*H*3 / 1e6) per second.
- memory: peak resident set size while coding minus the resident size after the codec was
  loaded, in MiB. Linux's high-water mark VmHWM is reset after loading (/proc/self/clear_refs),
  so import-time peaks do not hide the codec's; where that is refused, the ru_maxrss delta
  (``resource``) is reported instead, and says so. Unlike tracemalloc this sees the native
  libraries' allocations (libjpeg, x265, libaom, torch); it is page-granular and process-wide.
- entropy-coding share: for codecs that time an ``"entropy"`` section (:class:`bench.record.Clock`),
  median entropy seconds / median total seconds.
"""
from __future__ import annotations

import json
import resource
import statistics
import time
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from bench import codecs as registry
from bench.datasets import REPO
from bench.images import load_rgb
from bench.metrics import bits_per_pixel, psnr_rgb_db
from bench.record import Clock

DEFAULT_CODECS = ("ours", "jpeg", "webp", "avif")
SIZE = (512, 768)  # (H, W)


@dataclass(frozen=True)
class SpeedResult:
    codec: str
    quality: float
    bpp: float
    psnr_rgb_db: float
    encode_seconds: float
    decode_seconds: float
    encode_mb_per_s: float
    decode_mb_per_s: float
    peak_rss_delta_mib: float
    memory_method: str  # "VmHWM": peak reset after loading; "ru_maxrss": process peak (import peaks hide it)
    encode_entropy_share: float | None
    decode_entropy_share: float | None
    threads: int


def crop_to_size(image: np.ndarray) -> np.ndarray:
    """Centre crop to 768x512 (or 512x768 for portrait images) when the image is larger."""
    h, w = SIZE if image.shape[0] <= image.shape[1] else SIZE[::-1]
    top, left = max(0, (image.shape[0] - h) // 2), max(0, (image.shape[1] - w) // 2)
    return image[top:top + h, left:left + w]


def _reset_peak_rss() -> str:
    """Start a fresh peak-RSS window; -> how peaks are measured ("VmHWM" or "ru_maxrss")."""
    try:  # Linux >= 4.0: "5" resets the high-water mark VmHWM to the current RSS
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return "VmHWM"
    except OSError:
        return "ru_maxrss"


def _peak_rss_mib(method: str) -> float:
    if method == "VmHWM":
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _measure(name: str, image: np.ndarray, quality: float, repeats: int, threads: int) -> SpeedResult:
    """Runs in a fresh process: the RSS peak belongs to this codec alone."""
    import torch

    torch.set_num_threads(threads)
    codec = registry.create(name)
    method = _reset_peak_rss()
    baseline = _rss_mib() if method == "VmHWM" else _peak_rss_mib(method)
    enc, dec, enc_entropy, dec_entropy = [], [], [], []
    for i in range(repeats + 1):
        clock = Clock()
        start = time.perf_counter()
        data = codec.encode(image, quality, clock)
        encode_seconds = time.perf_counter() - start
        encode_entropy = clock.seconds.get("entropy")
        clock = Clock()
        start = time.perf_counter()
        decoded = codec.decode(data, clock)
        decode_seconds = time.perf_counter() - start
        if i:  # the first pair warms caches and lazy initialisation up
            enc.append(encode_seconds)
            dec.append(decode_seconds)
            enc_entropy.append(encode_entropy)
            dec_entropy.append(clock.seconds.get("entropy"))
    megabytes = image.size / 1e6
    share = lambda parts, totals: (statistics.median(parts) / statistics.median(totals)  # noqa: E731
                                   if None not in parts else None)
    return SpeedResult(
        name, float(quality), bits_per_pixel(len(data), image.shape[1], image.shape[0]),
        psnr_rgb_db(image, decoded), statistics.median(enc), statistics.median(dec),
        megabytes / statistics.median(enc), megabytes / statistics.median(dec),
        _peak_rss_mib(method) - baseline, method, share(enc_entropy, enc), share(dec_entropy, dec), threads)


def nearest_quality(codec: registry.Codec, image: np.ndarray, target_bpp: float) -> float:
    rates = {q: bits_per_pixel(len(codec.encode(image, q)), image.shape[1], image.shape[0])
             for q in codec.qualities}
    return min(rates, key=lambda q: abs(np.log(rates[q] / target_bpp)))


def run_speed(image_path: Path, names: tuple[str, ...], target_bpp: float = 1.0, repeats: int = 5,
              threads: int = 1) -> tuple[list[SpeedResult], list[str]]:
    image = crop_to_size(load_rgb(image_path))
    codecs, skipped = registry.create_available(names)
    results = []
    context = get_context("spawn")
    for codec in codecs:
        quality = nearest_quality(codec, image, target_bpp)
        with context.Pool(1) as pool:  # one at a time: never two heavy processes at once
            results.append(pool.apply(_measure, (codec.name, image, quality, repeats, threads)))
    return results, skipped


def speed_table(results: list[SpeedResult]) -> str:
    pct = lambda v: "n/a" if v is None else f"{100 * v:.0f}%"  # noqa: E731
    lines = ["| codec | quality | bpp | PSNR (dB) | encode s | decode s | encode MB/s | decode MB/s "
             "| peak RSS delta (MiB) | entropy share enc/dec | threads |", "|" + "---|" * 11]
    for r in results:
        lines.append(f"| {r.codec} | {r.quality:g} | {r.bpp:.3f} | {r.psnr_rgb_db:.2f} | {r.encode_seconds:.4f} "
                     f"| {r.decode_seconds:.4f} | {r.encode_mb_per_s:.1f} | {r.decode_mb_per_s:.1f} "
                     f"| {r.peak_rss_delta_mib:.1f} ({r.memory_method}) | {pct(r.encode_entropy_share)} / {pct(r.decode_entropy_share)} "
                     f"| {r.threads} |")
    return "\n".join(lines) + "\n"


def shown_path(path: Path) -> str:
    """``path`` as a reader can find it: relative to the folder that holds the repository
    (``shared/data/kodak/kodim01.png``), not this machine's absolute path."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO.parent))
    except ValueError:
        return path.name


def write_speed(results: list[SpeedResult], out: Path, image_path: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    note = (f"Image: {shown_path(image_path)} (centre crop to 768x512 if larger). Seconds: median of repeats. "
            "MB/s: raw RGB megabytes per second. Memory: peak RSS while coding minus RSS after loading, "
            "in a fresh process per codec (method in speed.json).\n\n")
    (out / "speed.md").write_text("# Coding speed\n\n" + note + speed_table(results))
    (out / "speed.json").write_text(json.dumps({"image": str(image_path), "results": [asdict(r) for r in results]},
                                               indent=2) + "\n")
    return [out / "speed.md", out / "speed.json"]


@dataclass(frozen=True)
class SizeResult:
    width: int
    height: int
    encode_seconds: float
    decode_seconds: float
    encode_peak_mib: float  # peak RSS of the whole `codec compress` process
    decode_peak_mib: float
    bytes: int


def _cli(args: list[str], threads: int) -> tuple[float, float]:
    """Run ``codec ARGS`` in a fresh process -> (wall seconds, its peak RSS in MiB), like
    ``/usr/bin/time -f %M``."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "codec", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"codec {' '.join(args)} failed: {err.strip()}")
    return seconds, usage.ru_maxrss / 1024.0


def run_sizes(image_path: Path, sizes: list[tuple[int, int]], quality: float, threads: int,
              folder: Path) -> list[SizeResult]:
    """``codec compress`` / ``decompress`` of the image resized to each size (Lanczos), one fresh
    process each: wall seconds (imports and model load included) and whole-process peak RSS."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    source = Image.open(image_path).convert("RGB")
    results = []
    for w, h in sizes:
        png, hvc, out = folder / f"{w}x{h}.png", folder / f"{w}x{h}.hvc", folder / f"{w}x{h}.out.png"
        source.resize((w, h), Image.LANCZOS).save(png)
        enc = _cli(["compress", str(png), "-o", str(hvc), "-q", f"{quality:g}", "-f"], threads)
        dec = _cli(["decompress", str(hvc), "-o", str(out), "-f", "--max-pixels", "0"], threads)
        results.append(SizeResult(w, h, enc[0], dec[0], enc[1], dec[1], hvc.stat().st_size))
        for p in (png, hvc, out):
            p.unlink()
    return results


def sizes_table(results: list[SizeResult], threads: int) -> str:
    lines = ["| size | MP | compress s | decompress s | compress peak RSS (MiB) | decompress peak RSS (MiB) "
             "| bpp |", "|" + "---|" * 7]
    for r in results:
        mp = r.width * r.height / 1e6
        lines.append(f"| {r.width}x{r.height} | {mp:.1f} | {r.encode_seconds:.1f} | {r.decode_seconds:.1f} "
                     f"| {r.encode_peak_mib:.0f} | {r.decode_peak_mib:.0f} | {8 * r.bytes / (r.width * r.height):.3f} |")
    return (f"Whole `codec compress` / `codec decompress` processes ({threads} threads; imports and model "
            "load included), peak RSS as `/usr/bin/time -f %M` reports it.\n\n" + "\n".join(lines) + "\n")

"""``python -m bench effort``: what each encoder effort level costs and buys.

For each data set, its first N images (the same subset every run) at fixed qualities: our
codec at every effort level, and WebP, JPEG 2000, HEIC (and JPEG, the anchor of ``bd_rate.md``)
on the same images. Each level is one ``bench rd`` run into ``<out>/<dataset>/effort<E>/``
(cached per image, quality and level, so a rerun computes only what changed); the classical
codecs run once, into ``effort0/``. Writes ``effort.md`` (per level: seconds per image and
per 768x512 image, BD-rate against effort 0, WebP, JPEG 2000 and HEIC) and ``effort.png``.
Timings are clean only on an otherwise idle machine (tasks run one at a time, 1 thread each
unless the caller sets more).
"""
from __future__ import annotations

import math
from pathlib import Path

from bench.bdrate import bd_rate
from bench.rd import RdOptions, run_rd
from bench.summary import Curve, read_curve

REFERENCES = ("webp", "jpeg2000", "heic")


def _bd(test: Curve, anchor: Curve | None) -> str:
    if anchor is None:
        return "-"
    value = bd_rate(anchor.bpp, anchor.psnr_rgb_db, test.bpp, test.psnr_rgb_db)
    return "-" if math.isnan(value) else f"{value:+.1f}%"


def run_effort(datasets: list[Path], images: int, qualities: tuple[float, ...], levels: tuple[int, ...],
               out: Path, model: str | None = None, progress: bool = True) -> tuple[str, list[Path]]:
    rows, points, files = [], {}, []
    for dataset in datasets:
        name = Path(dataset).resolve().name
        curves: dict[int, Curve] = {}
        for level in sorted(set(levels) | {0}):
            folder = out / name / f"effort{level}"
            codecs = ("ours",) + (("jpeg",) + REFERENCES if level == 0 else ())
            run_rd(RdOptions(dataset=dataset, codecs=codecs, out=folder, limit=images,
                             qualities={"ours": qualities}, options={"ours": {"model_name": model, "effort": level}},
                             progress=progress, plots=False, references=False))
            curves[level] = read_curve(folder / "ours.json")
        base = out / name / "effort0"
        refs = {r: read_curve(base / f"{r}.json") if (base / f"{r}.json").exists() else None for r in REFERENCES}
        for level in sorted(curves):
            c = curves[level]
            seconds = sum(c.encode_seconds) / len(c.encode_seconds)
            points.setdefault(name, []).append((seconds, level, c))
            rows.append(f"| {name} | {level} | {seconds:.1f} | {_bd(c, curves[0]) if level else '+0.0%'} | "
                        + " | ".join(_bd(c, refs[r]) for r in REFERENCES) + " |")
    header = ("| data set | effort | encode s / image | BD-rate vs effort 0 | "
              + " | ".join(f"BD-rate vs {r}" for r in REFERENCES) + " |\n|" + "---|" * (4 + len(REFERENCES)))
    report = (f"# Effort levels\n\nFirst {images} images of each data set, qualities "
              f"{', '.join(f'{q:g}' for q in qualities)}; bytes written; seconds: mean encode time "
              "per image (refinement included).\n\n" + header + "\n" + "\n".join(rows) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    (out / "effort.md").write_text(report)
    files.append(out / "effort.md")
    files.append(_plot(points, out / "effort.png"))
    return report, files


def _plot(points: dict[str, list[tuple[float, int, Curve]]], path: Path) -> Path:
    from bench.plots import plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, rows in points.items():
        base = rows[0][2]
        xs = [s for s, _, _ in rows]
        ys = [0.0] + [bd_rate(base.bpp, base.psnr_rgb_db, c.bpp, c.psnr_rgb_db) for _, _, c in rows[1:]]
        ax.plot(xs, ys, marker="o", label=name)
        for x, y, (_, level, _) in zip(xs, ys, rows):
            ax.annotate(str(level), (x, y), textcoords="offset points", xytext=(4, 4))
    ax.set_xscale("log")
    ax.set_xlabel("encode seconds per image")
    ax.set_ylabel("BD-rate vs effort 0 (%)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

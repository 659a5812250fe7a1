r"""``python -m bench rd``: every selected codec over every image at each quality point.

    images --(cache miss)--> runner --> RecordCache (per codec) --> records/<codec>.csv
                                                               \-> <codec>.json (Curve)
    all <name>.json in --out + Gaussian R(D) + published (Kodak) --> bd_rate.md, *.png

Curves of codecs run earlier into the same --out stay in the tables and plots, so codecs
can be added one run at a time.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import codecs as registry
from bench.cache import RecordCache, record_key
from bench.images import list_images
from bench.klt_basis import default_basis_path, load_basis
from bench.reference import cached_gaussian_curves, gaussian_key, gaussian_rd_curves, published_curves
from bench.report import bd_report, bd_table, layer_table
from bench.runner import Task, limit_threads, run_tasks
from bench.summary import Curve, read_curve, summarize, write_curve, write_records_csv

ORDER = tuple(registry.REGISTRY)


@dataclass(frozen=True)
class RdOptions:
    dataset: Path
    codecs: tuple[str, ...]
    out: Path
    jobs: int = 1
    limit: int | None = None
    qualities: dict[str, tuple[float, ...]] = field(default_factory=dict)  # override a sweep
    options: dict[str, dict[str, Any]] = field(default_factory=dict)       # codec constructor args
    progress: bool = True
    plots: bool = True
    references: bool | None = None  # published Kodak curves; None: Kodak folder, no --limit


@dataclass(frozen=True)
class RdResult:
    curves: list[Curve]
    skipped: list[str]
    report: str
    files: list[Path]


def _sort_key(curve: Curve) -> tuple:
    kind = {"measured": 0, "model": 1, "published": 2}.get(curve.kind, 3)
    return kind, ORDER.index(curve.name) if curve.name in ORDER else len(ORDER), curve.name


def run_rd(opts: RdOptions) -> RdResult:
    out = Path(opts.out)
    (out / "records").mkdir(parents=True, exist_ok=True)
    images = list_images(opts.dataset, opts.limit)
    if not images:
        raise FileNotFoundError(f"no images in {opts.dataset}")
    codecs, skipped = registry.create_available(opts.codecs, opts.options)
    for message in skipped:
        print(f"skipped {message}", file=sys.stderr)

    caches, tasks, plan = {}, [], {}
    for codec in codecs:
        settings = codec.settings
        caches[codec.name] = RecordCache(out / "cache" / f"{codec.name}.jsonl")
        qualities = opts.qualities.get(codec.name, tuple(codec.qualities))
        keys = [(q, im, record_key(codec.name, settings, q, im.sha256)) for q in qualities for im in images]
        plan[codec.name] = (codec, settings, keys)
        tasks += [Task(codec.name, float(q), im, key, opts.options.get(codec.name, {}))
                  for q, im, key in keys if key not in caches[codec.name]]
    if opts.jobs <= 1:
        limit_threads()
    for _ in run_tasks(tasks, opts.jobs, lambda t, r: caches[t.codec].add(t.key, r), opts.progress):
        pass

    files = []
    for name, (codec, settings, keys) in plan.items():
        records = [caches[name][key] for _, _, key in keys]
        write_records_csv(records, out / "records" / f"{name}.csv")
        curve = summarize(name, codec.description, {**settings, "dataset": Path(opts.dataset).name}, records)
        write_curve(curve, out / f"{name}.json")
        files += [out / "records" / f"{name}.csv", out / f"{name}.json"]
    basis_path = opts.options.get("klt", {}).get("basis_path") or default_basis_path(8)
    if Path(basis_path).exists():
        key = gaussian_key(images, Path(basis_path))
        if cached_gaussian_curves(out, key) is None:
            for curve in gaussian_rd_curves(images, load_basis(Path(basis_path)), key):
                write_curve(curve, out / f"{curve.name}.json")

    curves = []
    for path in sorted(out.glob("*.json")):
        try:
            curves.append(read_curve(path))
        except (KeyError, ValueError, json.JSONDecodeError):
            print(f"ignored {path}: not a results JSON", file=sys.stderr)
    references = opts.references
    if references is None:  # full-Kodak numbers: not comparable with a subset
        references = "kodak" in Path(opts.dataset).resolve().name.lower() and not opts.limit
    if references:
        curves += published_curves()
    curves.sort(key=_sort_key)

    dataset = Path(opts.dataset).resolve().name + (f" (first {opts.limit} images)" if opts.limit else "")
    report = bd_report(curves, dataset)
    (out / "bd_rate.md").write_text(report)
    files.append(out / "bd_rate.md")
    for curve in curves:
        if curve.layers is not None:  # layered codecs: the per-layer table of the model card
            path = out / f"{curve.name}_layers.md"
            path.write_text(layer_table(curve, dataset))
            files.append(path)
    if opts.plots:
        from bench.plots import all_plots

        files += all_plots(curves, out, dataset)
    return RdResult(curves, skipped, bd_table(curves, "cubic"), files)

"""``python -m bench readme``: rebuild README's results block from the bench runs in ``results/``.

The block sits between ``<!-- results -->`` and ``<!-- /results -->`` markers and holds only
tables read from the runs' own outputs, so README's numbers are whatever the runs measured:

    results/kodak, results/holdout   python -m bench rd --dataset ../shared/data/{kodak,holdout}
    results/<dataset>-<model>        ... --model <model> --out results/<dataset>-<model> (optional:
                                     the shipped-models table; kodak-* also the equal-budget table)
    results/speed/speed.md           python -m bench speed

``--check`` exits 1 if README differs from what the results give (nothing is written).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Sequence

from bench.bdrate import bd_psnr, bd_rate
from bench.report import point_table
from bench.summary import Curve, read_curve

BEGIN = "<!-- results"
END = "<!-- /results -->"


def load_curves(folder: Path, references: bool) -> list[Curve]:
    from bench.rd import _sort_key
    from bench.reference import published_curves

    curves = []
    for path in sorted(folder.glob("*.json")):
        try:
            curves.append(read_curve(path))
        except (KeyError, ValueError, json.JSONDecodeError):
            continue
    if references:
        curves += published_curves()
    return sorted(curves, key=_sort_key)


def _label(curve: Curve) -> str:
    return curve.name + {"model": " (model)", "published": " (published, not measured here)"}.get(curve.kind, "")


def _bd(anchor: Curve | None, curve: Curve, psnr: bool = False) -> str:
    if anchor is None or len(curve.bpp) < 2:
        return "-"
    args = (anchor.bpp, anchor.psnr_rgb_db, curve.bpp, curve.psnr_rgb_db)
    value = bd_psnr(*args) if psnr else bd_rate(*args)
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+.2f}" if psnr else f"{value:+.1f}%"


def combined_bd_table(datasets: Sequence[tuple[str, list[Curve]]]) -> str:
    """One row per codec; per dataset BD-rate vs JPEG, BD-PSNR vs JPEG, BD-rate vs WebP (the
    project's bar, compared directly: each codec's BD-rate vs JPEG covers its own overlap with
    JPEG) and BD-rate vs HEIC."""
    header = ["codec"]
    for name, _ in datasets:
        header += [f"{name}: BD-rate vs JPEG", f"{name}: BD-PSNR vs JPEG (dB)", f"{name}: BD-rate vs WebP",
                   f"{name}: BD-rate vs HEIC"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    labels: list[str] = []
    for _, curves in datasets:
        labels += [_label(c) for c in curves if _label(c) not in labels]
    for label in labels:
        cells = [label]
        for _, curves in datasets:
            by_label = {_label(c): c for c in curves}
            by_name = {c.name: c for c in curves if c.kind == "measured"}
            curve = by_label.get(label)
            if curve is None:
                cells += ["-", "-", "-", "-"]
                continue
            cells += [_bd(by_name.get("jpeg"), curve), _bd(by_name.get("jpeg"), curve, psnr=True),
                      _bd(by_name.get("webp"), curve), _bd(by_name.get("heic"), curve)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def models_table(root: Path) -> str:
    """Every shipped model measured (``results/<dataset>`` for the default, ``results/<dataset>-
    <model>`` for others): per dataset BD-rate vs JPEG (of the same run, else of the dataset's
    main run), and the bpp range."""
    rows: dict[str, dict[str, str]] = {}
    names = ("kodak", "holdout")
    for name in names:
        main = {c.name: c for c in load_curves(root / name, references=False) if c.kind == "measured"} \
            if (root / name).is_dir() else {}
        for folder in [root / name] + sorted(p for p in root.glob(f"{name}-*") if p.is_dir()):
            curves = {c.name: c for c in load_curves(folder, references=False) if c.kind == "measured"}
            # a model's run needs only `--codecs ours`: JPEG is the same on the same images
            ours, jpeg = curves.get("ours"), curves.get("jpeg", main.get("jpeg"))
            if ours is None:
                continue
            model = str(ours.settings.get("name", "?")) + (" (default)" if folder.name == name else "")
            rows.setdefault(model, {})[name] = (
                f"{_bd(jpeg, ours)} | {min(ours.bpp):.2f}-{max(ours.bpp):.2f} | "
                f"{min(ours.psnr_rgb_db):.2f}-{max(ours.psnr_rgb_db):.2f}")
    if len(rows) < 2:
        return ""
    header = ["model"] + [f"{n}: {col}" for n in names for col in ("BD-rate vs JPEG", "bpp", "PSNR (dB)")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, cells in sorted(rows.items(), key=lambda kv: "(default)" not in kv[0]):
        lines.append("| " + " | ".join([model] + [cells.get(n, "- | - | -") for n in names]) + " |")
    return "\n".join(lines) + "\n"


def results_block(root: Path) -> str:
    """Markdown of every results table README shows, from the run folders under ``root``."""
    parts = ["Rate: 8 x bytes written / pixels; PSNR-RGB of the 8-bit output, averaged over "
             "images; BD-rate: cubic Bjontegaard fit over the PSNR range both curves cover "
             "(negative = fewer bits at equal PSNR). Rebuilt by `python -m bench readme` from "
             "the runs below.\n"]
    datasets = [(name, load_curves(root / name, references=name == "kodak"))
                for name in ("kodak", "holdout") if (root / name).is_dir()]
    if not datasets:
        raise FileNotFoundError(f"no results in {root}/kodak or {root}/holdout; run python -m bench rd first")
    parts.append("### BD-rate (`python -m bench rd --dataset ../shared/data/kodak`, `... holdout`)\n")
    parts.append(combined_bd_table(datasets))
    for name, curves in datasets:
        points = point_table(curves)
        if points:
            parts.append(f"Single-point codecs on {name} against the curves, at equal rate and at equal PSNR:\n")
            parts.append(points)
    for name, _ in datasets:
        layers = root / name / "ours_layers.md"
        if layers.exists():
            parts.append(layers.read_text().replace("### ours on", "### ours per quality and layer,"))
    models = models_table(root)
    if models:
        parts.append("### Shipped models (`... --model NAME --out results/<dataset>-NAME`)\n")
        parts.append(models)
    for folder in sorted(p for p in root.glob("kodak-*") if p.is_dir()):
        curves = load_curves(folder, references=False)
        points = point_table(curves)
        if points:
            parts.append(f"### Equal training budget (`results/{folder.name}`)\n")
            parts.append(points)
    speed = root / "speed" / "speed.md"
    if speed.exists():
        text = speed.read_text().replace("# Coding speed", "### Coding speed (`python -m bench speed`)")
        parts.append(text)
    return "\n".join(p.rstrip("\n") + "\n" for p in parts)


def update_readme(readme: Path, block: str) -> str:
    """README text with the block between the markers replaced."""
    text = readme.read_text()
    match = re.search(re.escape(BEGIN) + r"[^\n]*\n(.*?)" + re.escape(END), text, flags=re.S)
    if match is None:
        raise ValueError(f"{readme} has no {BEGIN} ... {END} markers")
    return text[:match.start(1)] + block + text[match.end(1):]


def main(root: Path, readme: Path, check: bool) -> int:
    new = update_readme(readme, results_block(root))
    if check:
        if new != readme.read_text():
            print(f"{readme} is out of date with {root}; run python -m bench readme")
            return 1
        print(f"{readme} matches {root}")
        return 0
    readme.write_text(new)
    print(f"updated {readme} from {root}")
    return 0

"""Variants of the rate-trading study side by side (architectures trained on the same beta grid):
per-layer rates, full-decode RD and what the top k layers reconstruct, from each variant's
``rate_trading.json``; ``variants.md`` (a table) and ``variants.png``."""
from __future__ import annotations

import json
from pathlib import Path

from ..plotting import plt, save_figure


def read_variants(specs: list[str]) -> dict[str, dict]:
    """``["a=runs/study/a", ...]`` -> label -> that folder's rate_trading.json."""
    variants = {}
    for spec in specs:
        label, sep, folder = spec.partition("=")
        if not sep or not label:
            raise ValueError(f"--compare takes LABEL=FOLDER, not {spec!r}")
        path = Path(folder) / "rate_trading.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist (run the variant's grid first)")
        variants[label] = json.loads(path.read_text())
    return variants


def variants_table(variants: dict[str, dict]) -> str:
    L = len(next(iter(variants.values()))["points"][0]["layer_bpp"])
    head = (["variant", "betas"] + [f"layer {k + 1} bpp" for k in range(L)] + ["bpp", "PSNR (dB)"]
            + [f"PSNR, {k} layer{'s' if k > 1 else ''} (dB)" for k in range(1, L)])
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, result in variants.items():
        for p in result["points"]:
            cells = ([label, ",".join(f"{b:g}" for b in p["betas"])] + [f"{v:.4f}" for v in p["layer_bpp"]]
                     + [f"{p['bpp']:.4f}", f"{p['psnr_db']:.2f}"] + [f"{v:.2f}" for v in p["progressive_psnr_db"][:-1]])
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def variants_figure(variants: dict[str, dict], out: Path) -> Path:
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.4))
    for i, (label, result) in enumerate(variants.items()):
        color = f"C{i}"  # one colour per variant in every panel
        pts = sorted(result["points"], key=lambda p: p["betas"][0])
        upper = [sum(p["layer_bpp"][:-1]) for p in pts]
        ax[0].plot([p["betas"][0] for p in pts], upper, "o-", color=color, label=label)
        ax[1].plot([p["bpp"] for p in pts], [p["psnr_db"] for p in pts], "o", color=color, label=label)
        for k in range(len(pts[0]["progressive_psnr_db"]) - 1):
            ax[2].plot(upper, [p["progressive_psnr_db"][k] for p in pts], "o-" if k else "s--", color=color,
                       label=f"{label}, {k + 1} layer{'s' if k else ''}")
    ax[0].set_xscale("log")
    ax[0].set_xlabel("beta of the upper layers (bottom layer: 1)")
    ax[0].set_ylabel("rate of the upper layers (bpp)")
    ax[0].set_title("rate moved into the upper layers")
    ax[1].set_xlabel("total bpp (table bits)")
    ax[1].set_ylabel("PSNR, all layers (dB)")
    ax[1].set_title("full decode")
    ax[2].set_xlabel("rate of the upper layers (bpp)")
    ax[2].set_ylabel("PSNR of the prefix decode (dB)")
    ax[2].set_title("what the top k layers reconstruct")
    for a in ax:
        a.grid(True, alpha=0.3)
        a.legend(fontsize=7)
    return save_figure(fig, out)


def compare(specs: list[str], out: Path) -> list[Path]:
    variants = read_variants(specs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "variants.md").write_text(variants_table(variants))
    return [out / "variants.md", variants_figure(variants, out / "variants.png")]

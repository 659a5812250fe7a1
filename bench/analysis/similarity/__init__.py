"""``similarity``: linear CKA and orthogonal Procrustes between the activations of every conv and
GDN, across checkpoints, qualities and models (Bonheme & Grzes 2022). ``cka`` the measures,
``activations`` the probe, ``report`` the comparisons, ``figures`` the PNGs."""
from __future__ import annotations

from pathlib import Path

from ..options import add_common, floats, images, say, written
from ..outputs import default_out, write_json

HELP = "CKA / Procrustes between layer activations (Bonheme & Grzes 2022)"


def add_arguments(p) -> None:
    add_common(p, 8)
    p.add_argument("--crops", type=int, default=32, help="number of random crops (n)")
    p.add_argument("--crop-size", type=int, default=64)
    p.add_argument("--qualities", type=floats, default=None,
                   help="qualities of --model to compare (default 1..Q when no checkpoints/models are given)")
    p.add_argument("--checkpoints", nargs="+", default=None, help="training checkpoints of one run, oldest first")
    p.add_argument("--run-dir", type=Path, default=None, help="run folder with snapshots/step_*.pt")
    p.add_argument("--models", nargs="+", default=None, help="checkpoints to compare (the first is the reference)")
    p.add_argument("--quality", type=float, default=None, help="quality for checkpoints and models")
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from ..models import load_checkpoint, load_model
    from ..patches import random_crops
    from .report import run_similarity

    checkpoint_paths = list(args.checkpoints or [])
    if args.run_dir:
        checkpoint_paths += sorted(str(p) for p in (args.run_dir / "snapshots").glob("step_*.pt"))
        if not checkpoint_paths and (args.run_dir / "checkpoint.pt").exists():
            checkpoint_paths = [str(args.run_dir / "checkpoint.pt")]
    checkpoints = sorted((load_checkpoint(p) for p in checkpoint_paths), key=lambda c: c.step or 0)
    models = [load_model(m) for m in args.models or []]
    quality_model, qualities = None, []
    if args.qualities or not (checkpoints or models):
        quality_model = load_model(args.model)
        qualities = args.qualities or [float(q) for q in range(1, quality_model.model.config.num_qualities + 1)]
    x = random_crops([im for _, im in images(args, 1)], args.crop_size, args.crops, args.seed)
    result = run_similarity(x, str(args.dataset), quality_model, qualities, checkpoints, models, args.quality,
                            progress=say)
    out = args.out or default_out("similarity")
    files = [write_json(out / "similarity.json", result)]
    if not args.no_plots:
        from .figures import similarity_figure, within_figure

        files += [similarity_figure(t, out / f"similarity_{t.kind}.png") for t in result.tables]
        if result.within is not None:
            files.append(within_figure(result.within, out / "similarity_within.png"))
    for t in result.tables:
        print(f"{t.kind} (reference {t.reference}): mean CKA encoder "
              f"{'/'.join(f'{v:.3f}' for v in t.mean_cka_encoder)}, decoder "
              f"{'/'.join(f'{v:.3f}' for v in t.mean_cka_decoder)} over {', '.join(t.labels)}")
    written(files)
    return 0

"""``ima``: is the decoder an isometry with orthogonal columns, per layer and quality? IMA
contrast, column-norm spread, isometry and encoder/decoder self-consistency (Reizinger et al.,
NeurIPS 2022). ``jacobian`` forward-mode columns and IMA's measures, ``report`` the run,
``figures`` the PNG."""
from __future__ import annotations

from ..options import add_common, floats, images, say, written
from ..outputs import default_out, write_json

HELP = "decoder Jacobian: IMA contrast, isometry, self-consistency (Reizinger et al. 2022)"


def add_arguments(p) -> None:
    add_common(p, 8)
    p.add_argument("--qualities", type=floats, default=None, help="comma list (default 1..Q)")
    p.add_argument("--patches", type=int, default=8, help="number of random crops")
    p.add_argument("--patch-size", type=int, default=64)
    p.add_argument("--columns", type=int, default=32, help="Jacobian columns per layer and patch (m)")
    p.add_argument("--sampling", choices=("random", "position"), default="random",
                   help="columns at random channels and positions, or channels at one position")
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from ..models import load_model
    from ..patches import random_crops
    from .report import run_ima

    named = load_model(args.model)
    x = random_crops([im for _, im in images(args, 1)], args.patch_size, args.patches, args.seed)
    qualities = args.qualities or [float(q) for q in range(1, named.model.config.num_qualities + 1)]
    result = run_ima(named, x, qualities, args.columns, args.seed, str(args.dataset), args.sampling, progress=say)
    out = args.out or default_out("ima" if args.sampling == "random" else f"ima-{args.sampling}")
    files = [write_json(out / "ima.json", result)]
    if not args.no_plots:
        from .figures import ima_figure

        files.append(ima_figure(result, out / "ima.png"))
    for r in result.qualities:
        print(f"q={r.quality:g}: " + "; ".join(
            f"L{l.layer}: c={l.contrast:.2f} (rand {l.random_contrast:.2f}), logstd={l.log_norm_std:.2f}, "
            f"iso={l.isometry_ratio_median:.3g}, sc={l.self_consistency_steps:.3f} steps" for l in r.layers))
    written(files)
    return 0

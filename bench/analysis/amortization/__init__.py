"""``amortization``: how far encode-time refinement moves the latents and how much of the
objective it recovers, per quality: the amortization gap of our encoder (the encoder does not
invert the decoder exactly; self-consistency, Reizinger et al. 2022; refinement as in Yang,
Bamler & Mandt 2020). ``report`` the measurement, ``figures`` the PNG."""
from __future__ import annotations

from ..options import add_common, floats, images, say, written
from ..outputs import default_out, write_json

HELP = "amortization gap: what encode-time refinement moves and recovers, per quality and layer"


def add_arguments(p) -> None:
    add_common(p, 4)
    p.add_argument("--qualities", type=floats, default=[1.0, 4.0, 7.0, 11.0], help="comma list")
    p.add_argument("--crop", type=int, default=256, help="centre crop of each image (0: whole image)")
    p.add_argument("--steps", type=int, default=100, help="refinement steps (codec.refine.Effort)")


def run(args) -> int:
    from ..models import load_model
    from .report import run_amortization

    named = load_model(args.model)
    result = run_amortization(named, images(args, named.model.config.pad_multiple), args.qualities, args.crop,
                              args.steps, str(args.dataset), progress=say)
    out = args.out or default_out("amortization")
    files = [write_json(out / "amortization.json", result)]
    if not args.no_plots:
        from .figures import amortization_figure

        files.append(amortization_figure(result, out / "amortization.png"))
    for r in result.qualities:
        print(f"q={r.quality:g}: coded loss {100 * r.loss_change:+.2f}% (bpp {100 * r.bpp_change:+.1f}%, "
              f"PSNR {r.psnr_change_db:+.2f} dB); moved rms " + "/".join(f"{v:.3f}" for v in r.rms_steps)
              + " steps, symbols changed " + "/".join(f"{100 * v:.1f}%" for v in r.changed))
    written(files)
    return 0

"""``spectrum``: latents ranked like PCA eigenvalues, next to the KLT of 8x8x3 blocks, and the
isometric-embedding estimate of -log2 p(x) against the bits spent (Nakagawa, Kato & Suzuki,
ICML 2021). ``measure`` per-channel statistics, ``klt`` the block KLT and water-filling,
``stats`` sorted-spectrum statistics, ``report`` the dataset run, ``figures`` the PNGs."""
from __future__ import annotations

from ..options import add_common, floats, images, say, written
from ..outputs import default_out, write_json

HELP = "latents ranked like PCA eigenvalues, vs the KLT (Nakagawa et al. 2021)"


def add_arguments(p) -> None:
    add_common(p, 8)
    p.add_argument("--qualities", type=floats, default=[4.0], help="comma list, e.g. 1,4,8")
    p.add_argument("--block", type=int, default=8, help="KLT block size")


def run(args) -> int:
    from ..models import load_model
    from .report import run_spectrum

    named = load_model(args.model)
    result = run_spectrum(named, images(args, named.model.config.pad_multiple), args.qualities,
                          str(args.dataset), args.block, progress=say)
    out = args.out or default_out("spectrum")
    files = [write_json(out / "spectrum.json", result)]
    if not args.no_plots:
        from .figures import spectrum_figure

        files += [spectrum_figure(result, qs, out / f"spectrum_q{qs.quality:g}.png") for qs in result.qualities]
    for qs in result.qualities:
        s = qs.summary
        print(f"q={qs.quality:g}: {s.bpp:.4f} bpp; bits: 50/90/99% in {s.rate_channels} of {s.num_channels} channels "
              f"({s.active_channels} active); var(ŷ)/Δ²: {s.energy_channels}; KLT energy {s.klt_energy_coefficients}, "
              f"KLT rate {s.klt_rate_coefficients} of {s.klt_dims}; per image r(bits, isometric) = "
              f"{s.pearson_bits_vs_isometric:.3f}")
    written(files)
    return 0

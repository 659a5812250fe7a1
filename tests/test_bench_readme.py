"""``python -m bench readme``: README's results block comes from the runs' own JSON."""
import pytest

from bench.cli import main as bench_main
from bench.summary import Curve, write_curve


def _write(folder, name, bpp, psnr):
    folder.mkdir(parents=True, exist_ok=True)
    write_curve(Curve(name, name, "measured", tuple(bpp), tuple(psnr), quality=tuple(range(len(bpp)))),
                folder / f"{name}.json")


def test_readme_block_is_rebuilt_from_results_and_checked(tmp_path, capsys):
    bpps = (0.25, 0.5, 1.0, 2.0)
    for dataset in ("kodak", "holdout"):
        _write(tmp_path / "results" / dataset, "jpeg", bpps, (26.0, 29.0, 32.0, 35.0))
        # exactly half the rate of JPEG at every PSNR
        _write(tmp_path / "results" / dataset, "ours", [b / 2 for b in bpps], (26.0, 29.0, 32.0, 35.0))
        # and WebP at 80% of JPEG's rate: ours then needs 37.5% fewer bits than WebP
        _write(tmp_path / "results" / dataset, "webp", [b * 0.8 for b in bpps], (26.0, 29.0, 32.0, 35.0))
    _write(tmp_path / "results" / "kodak-old", "jpeg", bpps, (26.0, 29.0, 32.0, 35.0))
    _write(tmp_path / "results" / "kodak-old", "peer", (0.5,), (30.0,))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results: generated -->\nstale numbers\n<!-- /results -->\noutro\n")
    args = ["readme", "--results", str(tmp_path / "results"), "--readme", str(readme)]
    assert bench_main(args + ["--check"]) == 1
    assert bench_main(args) == 0
    text = readme.read_text()
    assert "stale numbers" not in text and text.startswith("intro\n") and text.endswith("<!-- /results -->\noutro\n")
    row = next(line for line in text.splitlines() if line.startswith("| ours |"))
    assert row.count("-50.0%") == 2  # BD-rate vs JPEG on both datasets
    assert row.count("-37.5%") == 2  # ... and vs WebP, directly
    assert "| peer | 0.500 | 30.00 | jpeg | 29.00 (-1.00) | 0.630 (+26.0%) |" in text  # equal-budget point table
    assert bench_main(args + ["--check"]) == 0
    capsys.readouterr()


def test_readme_without_markers_or_results_is_an_error(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(FileNotFoundError):
        bench_main(["readme", "--results", str(tmp_path / "none"), "--readme", str(readme)])


def test_shipped_models_table_compares_each_model_with_its_own_jpeg_run(tmp_path):
    from bench.readme import models_table

    bpps = (0.25, 0.5, 1.0, 2.0)
    psnr = (26.0, 29.0, 32.0, 35.0)
    root = tmp_path / "results"
    for folder, factor, model in (("kodak", 0.5, "new"), ("kodak-old", 2.0, "old"), ("holdout", 1.0, "new")):
        _write(root / folder, "jpeg", bpps, psnr)
        write_curve(Curve("ours", "ours", "measured", tuple(b * factor for b in bpps), psnr,
                          quality=(1, 2, 3, 4), settings={"name": model}), root / folder / "ours.json")
    lines = models_table(root).splitlines()
    assert lines[2].startswith("| new (default) | -50.0% | 0.12-1.00 | 26.00-35.00 | +0.0% | 0.25-2.00 |")
    assert lines[3] == "| old | +100.0% | 0.50-4.00 | 26.00-35.00 | - | - | - |"
    assert models_table(tmp_path / "empty") == ""


def test_a_models_run_of_ours_alone_is_compared_with_the_datasets_jpeg_run(tmp_path):
    from bench.readme import models_table

    bpps = (0.25, 0.5, 1.0, 2.0)
    psnr = (26.0, 29.0, 32.0, 35.0)
    root = tmp_path / "results"
    _write(root / "kodak", "jpeg", bpps, psnr)
    for folder, factor, model in (("kodak", 0.5, "new"), ("kodak-old", 0.8, "old")):  # kodak-old: no jpeg.json
        (root / folder).mkdir(parents=True, exist_ok=True)
        write_curve(Curve("ours", "ours", "measured", tuple(b * factor for b in bpps), psnr,
                          quality=(1, 2, 3, 4), settings={"name": model}), root / folder / "ours.json")
    lines = models_table(root).splitlines()
    assert lines[3] == "| old | -20.0% | 0.20-1.60 | 26.00-35.00 | - | - | - |"


def test_the_repositorys_readme_matches_its_committed_results(capsys):
    """README's numbers are the committed runs' numbers: a results change lands with its README."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    assert bench_main(["readme", "--results", str(repo / "results"), "--readme", str(repo / "README.md"),
                       "--check"]) == 0, capsys.readouterr().out

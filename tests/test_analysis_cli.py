"""bench.analysis.cli: every subcommand in-process on a tiny checkpoint, and once as a process."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from bench.analysis import cli
from conftest import REPO, natural_image
from test_analysis_models import lively_tiny, write_checkpoint


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    data = root / "images"
    data.mkdir()
    for s in range(3):
        Image.fromarray(natural_image(128, 192, seed=s)).save(data / f"im{s}.png")
    run = root / "run"
    for step, seed in ((10, 1), (20, 2), (30, 0)):
        write_checkpoint(run / "snapshots" / f"step_{step:06d}.pt", lively_tiny(seed), step)
    model = write_checkpoint(root / "tiny.pt", lively_tiny(0), 30)
    return root, data, run, model


def test_spectrum(setup):
    root, data, _, model = setup
    out = root / "spectrum"
    assert cli.main(["spectrum", "--dataset", str(data), "--model", str(model), "--qualities", "2,6",
                     "--out", str(out)]) == 0
    result = json.loads((out / "spectrum.json").read_text())
    assert [q["quality"] for q in result["qualities"]] == [2, 6]
    assert len(result["image_names"]) == 3 and (out / "spectrum_q2.png").stat().st_size > 0


def test_ima(setup):
    root, data, _, model = setup
    out = root / "ima"
    assert cli.main(["ima", "--dataset", str(data), "--model", str(model), "--qualities", "1,8",
                     "--patches", "2", "--columns", "4", "--out", str(out)]) == 0
    result = json.loads((out / "ima.json").read_text())
    assert len(result["qualities"]) == 2 and (out / "ima.png").exists()


def test_amortization(setup):
    root, data, _, model = setup
    out = root / "amortization"
    assert cli.main(["amortization", "--dataset", str(data), "--model", str(model), "--qualities", "2,7",
                     "--limit", "2", "--crop", "64", "--steps", "6", "--out", str(out)]) == 0
    result = json.loads((out / "amortization.json").read_text())
    assert [q["quality"] for q in result["qualities"]] == [2, 7] and (out / "amortization.png").exists()
    for q in result["qualities"]:
        assert q["loss_change"] <= 0 and len(q["rms_steps"]) == len(q["changed"]) == 3
        assert all(0 <= v <= 1 for v in q["changed"])


def test_similarity_training_and_quality(setup):
    root, data, run, model = setup
    out = root / "similarity"
    assert cli.main(["similarity", "--dataset", str(data), "--model", str(model), "--run-dir", str(run),
                     "--qualities", "1,8", "--crops", "6", "--out", str(out)]) == 0
    result = json.loads((out / "similarity.json").read_text())
    kinds = [t["kind"] for t in result["tables"]]
    assert kinds == ["training", "quality"]
    assert result["tables"][0]["labels"] == ["step 10", "step 20", "step 30"]
    for name in ("similarity_training.png", "similarity_quality.png", "similarity_within.png"):
        assert (out / name).exists()


def test_errors_are_reported(setup, capsys):
    root, _, _, model = setup
    assert cli.main(["spectrum", "--dataset", str(root / "missing"), "--model", str(model)]) == 2
    assert "error" in capsys.readouterr().err
    junk = root / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert cli.main(["spectrum", "--dataset", str(root / "images"), "--model", str(junk)]) == 2
    err = capsys.readouterr().err
    assert "not a training checkpoint" in err and err.count("\n") == 1


def test_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "bench.analysis", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for sub in ("spectrum", "ima", "rate-trading", "similarity"):
        assert sub in proc.stdout

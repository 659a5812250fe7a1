"""``python -m bench``: end to end on a tiny folder, in-process and once as a subprocess."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bench import runner
from bench.cache import RecordCache
from bench.cli import main
from bench.reference import published_curves
from bench.summary import curve_from_json, curve_to_json, read_curve
from conftest import natural_image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def dataset(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    Image.fromarray(natural_image(40, 56, seed=1)).save(folder / "a.png")
    Image.fromarray(natural_image(48, 32, seed=2)).save(folder / "b.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_rd_end_to_end_then_fully_cached(dataset, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    argv = ["rd", "--dataset", str(dataset), "--codecs", "jpeg,klt", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| klt |" in printed and "BD-rate vs JPEG 4:2:0" in printed

    for name in ("jpeg", "klt"):
        curve = read_curve(out / f"{name}.json")
        assert curve.kind == "measured" and curve.settings["num_images"] == 2
        assert list(curve.bpp) == sorted(curve.bpp) and len(curve.bpp) == len(curve.psnr_rgb_db)
        raw = json.loads((out / f"{name}.json").read_text())
        assert set(raw) == {"name", "description", "kind", "settings", "results"}
        assert {"quality", "bpp", "psnr-rgb", "ms-ssim", "encoding_time", "decoding_time"} <= set(raw["results"])
        rows = (out / "records" / f"{name}.csv").read_text().splitlines()
        assert rows[0].startswith("codec,quality,image,width,height,bytes,bpp,psnr_rgb_db,ms_ssim")
        assert len(rows) == 1 + 2 * len(curve.bpp)
    assert read_curve(out / "gaussian-rd.json").kind == "model"
    assert "| klt |" in (out / "bd_rate.md").read_text()
    for png in ("rd_psnr.png", "rd_ms_ssim.png", "time_vs_bpp.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def must_not_run(task):
        raise AssertionError(f"recomputed a cached record: {task}")

    monkeypatch.setattr(runner, "run_task", must_not_run)
    gaussian = (out / "gaussian-rd.json").read_bytes()
    assert main(argv) == 0
    assert (out / "gaussian-rd.json").read_bytes() == gaussian  # kept, not recomputed

    # the Gaussian curves are redone when what they depend on changes (here: one image more)
    Image.fromarray(natural_image(32, 32, seed=3)).save(dataset / "c.png")
    monkeypatch.undo()
    assert main(argv) == 0
    assert "3 benchmarked images" in read_curve(out / "gaussian-rd.json").description


def test_curve_json_round_trip_with_layers():
    obj = {"name": "x", "description": "d", "kind": "measured", "settings": {"a": 1},
           "results": {"quality": [1.0, 2.0], "bpp": [0.1, 0.2], "psnr-rgb": [30.0, 32.0],
                       "ms-ssim": [None, 0.9], "encoding_time": [0.1, 0.1], "decoding_time": [0.2, 0.2],
                       "layers": {"bpp": [[0.05, 0.1], [0.1, 0.2]], "psnr-rgb": [[25.0, 30.0], [27.0, 32.0]],
                                  "rate_share": [[0.5, 0.5], [0.5, 0.5]]}}}
    assert curve_to_json(curve_from_json(obj)) == obj


def test_layer_table_lists_added_bits_and_prefix_psnr():
    from bench.report import layer_table
    from bench.summary import curve_from_json

    obj = {"name": "ours", "description": "d", "kind": "measured", "settings": {},
           "results": {"quality": [1.0], "bpp": [0.3], "psnr-rgb": [30.0], "ms-ssim": [None],
                       "encoding_time": [0.1], "decoding_time": [0.2],
                       "layers": {"bpp": [[0.05, 0.1, 0.3]], "psnr-rgb": [[20.0, 25.0, 30.0]],
                                  "rate_share": [[0.17, 0.17, 0.66]]}}}
    table = layer_table(curve_from_json(obj), "kodak")
    assert "| 1 | 0.300 | 30.00 | 0.050 | 0.050 | 0.200 | 20.00 | 25.00 |" in table


def test_published_references_are_marked():
    curves = published_curves()
    assert [c.name for c in curves] == ["bmshj2018-hyperprior", "mbt2018-mean"]
    for c in curves:
        assert c.kind == "published" and "CompressAI" in c.description and len(c.bpp) == 8


def test_cache_ignores_a_line_cut_by_an_interrupted_run(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"key": "k", "record": {"codec": "jpeg"')
    assert RecordCache(path).records == {}


def test_cli_runs_as_a_subprocess(dataset, tmp_path):
    out = tmp_path / "sub"
    result = subprocess.run([sys.executable, "-m", "bench", "rd", "--dataset", str(dataset), "--codecs", "jpeg",
                             "--out", str(out), "--no-plots", "--no-progress"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (out / "jpeg.json").exists() and (out / "bd_rate.md").exists()


def test_crops_figure_labels_each_codec_at_the_nearest_size(tmp_path, use_tiny_checkpoints, capsys):
    from PIL import Image

    from bench.cli import main
    from conftest import natural_image

    path = tmp_path / "img.png"
    Image.fromarray(natural_image(96, 128, seed=2)).save(path)
    out = tmp_path / "crops.png"
    assert main(["crops", str(path), "--size", "1500", "--codecs", "ours,jpeg,webp", "--crop", "10,20,64,48",
                 "--zoom", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| ") and "codec" not in line]
    assert [r[0].strip() for r in rows] == ["ours", "jpeg", "webp"]
    ours_bytes = int(rows[0][2].replace(",", ""))
    assert ours_bytes <= 1500
    sheet = Image.open(out)
    assert sheet.size == (4 * 128, 1 * (96 + 34))  # 4 columns: the original and three codecs, zoomed 2x
    assert main(["crops", str(path), "--size", "1500", "--crop", "100,0,64,64", "--out", str(out)]) == 2

"""``python -m bench speed``: timings, memory and entropy share, in a fresh process per codec."""
import numpy as np
from PIL import Image

from bench.speed import crop_to_size, run_speed, speed_table
from conftest import natural_image


def test_crop_to_768x512():
    assert crop_to_size(np.zeros((600, 900, 3), np.uint8)).shape == (512, 768, 3)
    assert crop_to_size(np.zeros((900, 600, 3), np.uint8)).shape == (768, 512, 3)
    assert crop_to_size(np.zeros((40, 50, 3), np.uint8)).shape == (40, 50, 3)


def test_speed_reports_entropy_share_for_klt(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(natural_image(64, 96, seed=3)).save(path)
    results, skipped = run_speed(path, ("klt",), target_bpp=1.0, repeats=1)
    assert skipped == [] and len(results) == 1
    r = results[0]
    assert r.codec == "klt" and r.encode_seconds > 0 and r.decode_seconds > 0
    assert 0 < r.encode_entropy_share < 1 and 0 < r.decode_entropy_share < 1
    assert r.peak_rss_delta_mib >= 0 and r.encode_mb_per_s > 0
    assert "| klt |" in speed_table(results)


def test_sizes_run_the_cli_and_measure_its_peak(tmp_path):
    from bench.speed import run_sizes, sizes_table

    path = tmp_path / "x.png"
    Image.fromarray(natural_image(64, 96, seed=3)).save(path)
    (r,) = run_sizes(path, [(80, 48)], 3.0, 1, tmp_path / "work")
    assert (r.width, r.height) == (80, 48) and r.bytes > 0 and r.encode_peak_mib > 50 and r.decode_peak_mib > 50
    assert "| 80x48 |" in sizes_table([r], 1) and list((tmp_path / "work").iterdir()) == []

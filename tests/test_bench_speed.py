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

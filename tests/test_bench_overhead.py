from PIL import Image

from bench.overhead import measure, report

from conftest import natural_image


def test_overhead_is_small_and_never_negative(tmp_path, use_tiny_checkpoints):
    Image.fromarray(natural_image(128, 192)).save(tmp_path / "a.png")
    result = measure(tmp_path, qualities=(2.0, 8.0))
    assert result.images == 1 and result.min_ratio >= 1.0
    assert result.payload_bits >= result.estimate_bits
    assert result.container_bits == 2 * 8 * (35 + 3 * 8)  # "tiny": 4-byte name; 3 chunk framings
    assert "overhead" in report(result)

"""Decompression bombs: a file claiming more pixels than the limit is refused before any work."""
import numpy as np
import pytest

import codec
from codec import container
from codec.cli import main
from conftest import natural_image


def _claiming(shipped_codec, width: int, height: int) -> bytes:
    """A legal one-layer prefix (header CRC valid) whose header claims width x height."""
    real = container.parse(shipped_codec.compress(natural_image(64, 64), 3.0))
    header = container.Header(width, height, "RGB", shipped_codec.num_layers, real.header.quality_milli,
                              shipped_codec.name, shipped_codec.digest)
    data = container.serialize(header, list(real.chunks))
    return data[: container.parse(data).header_size + real.chunk_sizes[0]]


def test_a_tiny_file_claiming_8192x4096_is_refused(shipped_codec, tmp_path, capsys):
    data = _claiming(shipped_codec, 8192, 4096)
    assert len(data) < 100
    with pytest.raises(codec.DecompressionBombError, match="8192x4096 = 33,554,432 pixels"):
        codec.decompress(data)
    with pytest.raises(codec.DecompressionBombError):
        shipped_codec.decompress(data)
    (tmp_path / "bomb.hvc").write_bytes(data)
    assert main(["decompress", str(tmp_path / "bomb.hvc")]) == 2
    err = capsys.readouterr().err.strip()
    assert "over the decoding limit" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "bomb.png").exists()


def test_the_limit_is_exact_and_settable(shipped_codec):
    data = shipped_codec.compress(natural_image(48, 80), 3.0)
    with pytest.raises(codec.DecompressionBombError):
        codec.decompress(data, max_pixels=48 * 80 - 1)  # just over
    assert codec.decompress(data, max_pixels=48 * 80).size == (80, 48)  # just under
    assert shipped_codec.decompress(data, max_pixels=0).size == (80, 48)  # no limit
    with pytest.raises(codec.CodecError, match="max_pixels"):
        codec.decompress(data, max_pixels=-1)


def test_the_cli_flag(shipped_codec, tmp_path, capsys):
    (tmp_path / "x.hvc").write_bytes(shipped_codec.compress(natural_image(48, 80), 3.0))
    assert main(["decompress", str(tmp_path / "x.hvc"), "--max-pixels", "1000"]) == 2
    assert "3,840 pixels, over the decoding limit of 1,000" in capsys.readouterr().err
    assert main(["decompress", str(tmp_path / "x.hvc"), "--max-pixels", "3840"]) == 0
    assert np.asarray(codec.decompress((tmp_path / "x.hvc").read_bytes())).shape == (48, 80, 3)

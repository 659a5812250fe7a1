"""The KLT transform coder: basis fit, Gaussian R(D), and its real bitstream."""
import numpy as np
import pytest

from bench import klt_stream
from bench.klt_basis import (basis_from_moments, block_moments, default_basis_path, from_blocks,
                             gaussian_rd, load_basis, to_blocks)
from conftest import natural_image


@pytest.fixture(scope="module")
def basis():
    return load_basis(default_basis_path(8))


def test_blocks_round_trip_with_padding():
    image = natural_image(21, 30, seed=1)
    blocks = to_blocks(image, 8)
    assert blocks.shape == (3 * 4, 192)
    assert np.array_equal(from_blocks(blocks, 8, 21, 30), image)


def test_fit_recovers_eigenvalues_of_known_gaussian():
    rng = np.random.default_rng(0)
    block, dims = 2, 12
    eigenvalues = np.geomspace(400.0, 1.0, dims)
    q, _ = np.linalg.qr(rng.normal(size=(dims, dims)))
    samples = rng.normal(size=(40_000, dims)) * np.sqrt(eigenvalues) @ q.T + 100.0
    image = from_blocks(samples, block, 400, 400)  # 200 x 200 blocks, float pixels
    mean, cov, count = block_moments([image], block)
    fitted = basis_from_moments(mean, cov, block, "test")
    assert count == 40_000
    np.testing.assert_allclose(fitted.eigenvalues, eigenvalues, rtol=0.05)
    alignment = np.abs(q.T @ fitted.vectors.astype(np.float64))
    assert np.all(np.diag(alignment) > 0.95)
    vectors = fitted.vectors.astype(np.float64)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(dims), atol=1e-6)


def test_gaussian_rd_of_white_blocks_is_textbook():
    # Equal eigenvalues s2: every dimension gets R = log2(s2 / D) / 2 bits, 3 per pixel.
    rd = gaussian_rd(np.full(48, 900.0), block=4, max_bpp=2.0)
    mse = 255.0**2 / 10 ** (rd.psnr_db / 10)
    np.testing.assert_allclose(rd.bpp, 3 * 0.5 * np.log2(900.0 / mse), rtol=1e-9)
    assert rd.bpp.max() == pytest.approx(2.0, rel=1e-6)
    assert np.all(np.diff(rd.bpp) > 0) and np.all(np.diff(rd.psnr_db) > 0)


def test_bitstream_round_trip_is_exact(basis):
    image = natural_image(37, 45, seed=2)  # not a multiple of the block: pad and crop
    for step in (6.0, 20.0, 70.0):
        data, recon = klt_stream.encode(image, basis, step)
        decoded = klt_stream.decode(bytes(data), basis)
        assert decoded.shape == image.shape and decoded.dtype == np.uint8
        assert np.array_equal(decoded, recon)


def test_larger_step_fewer_bytes_lower_psnr(basis):
    image = natural_image(48, 64, seed=3)
    sizes, errors = [], []
    for step in (4.0, 12.0, 40.0, 120.0):
        data, recon = klt_stream.encode(image, basis, step)
        sizes.append(len(data))
        errors.append(np.mean((recon.astype(float) - image) ** 2))
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4
    assert errors == sorted(errors)


def test_header_round_trip_and_rejections(basis):
    image = natural_image(16, 24, seed=4)
    data, _ = klt_stream.encode(image, basis, 10.0)
    header, offset = klt_stream.unpack_header(data)
    assert (header.width, header.height, header.block) == (24, 16, 8)
    assert header.step == pytest.approx(10.0) and header.digest == basis.digest
    assert klt_stream.pack_header(header) == data[:offset]
    with pytest.raises(klt_stream.KltStreamError):
        klt_stream.decode(b"XYZ" + data[3:], basis)
    with pytest.raises(klt_stream.KltStreamError):
        klt_stream.decode(data[:10], basis)
    other = type(basis)(basis.block, basis.mean + 1, basis.vectors, basis.eigenvalues)
    with pytest.raises(klt_stream.KltStreamError):
        klt_stream.decode(data, other)


def test_mean_block_image_is_a_bare_header(basis):
    # Every coefficient quantizes to zero: no table, no ANS stream, still decodable.
    mean_block = np.clip(np.rint(basis.mean.astype(np.float64)), 0, 255).astype(np.uint8)
    image = from_blocks(np.tile(mean_block, (4, 1)), 8, 16, 16)
    data, recon = klt_stream.encode(image, basis, 50.0)
    assert len(data) == klt_stream._FIXED.size
    assert np.array_equal(klt_stream.decode(data, basis), recon)
    assert np.abs(recon.astype(int) - image).max() <= 1


def test_laplace_fit_minimizes_bits():
    rng = np.random.default_rng(5)
    values = np.rint(rng.laplace(scale=3.0, size=5000)).astype(np.int64)
    max_abs = int(np.abs(values).max())
    best = klt_stream.fit_scale_index(values, max_abs)
    assert klt_stream.laplace_scale(best) == pytest.approx(3.0, rel=0.15)

import numpy as np
import pytest

from codec.ans import MAX_MAGNITUDE, StreamError, Table, TableCoder, quantize_pmf
from codec.entropy_params import gaussian_coder, scale_levels


def test_round_trip_and_overhead():
    coder = gaussian_coder()
    rng = np.random.default_rng(0)
    ids = rng.integers(0, len(scale_levels()), 50_000)
    values = np.round(rng.normal(0, scale_levels()[ids])).astype(np.int64)
    data = coder.encode(values, ids)
    np.testing.assert_array_equal(coder.decode(data, ids), values)
    ideal = coder.bits(values, ids)
    assert ideal <= 8 * len(data) <= ideal * 1.001 + 64


def test_one_call_per_table_order_independent():
    coder = TableCoder([Table(quantize_pmf([1, 2, 3]), -1), Table(quantize_pmf([5, 1]), 0)])
    ids = np.array([1, 0, 1, 0, 0, 1])
    values = np.array([0, -1, 1, 1, 0, 0])
    assert list(coder.decode(coder.encode(values, ids), ids)) == list(values)


def test_values_outside_a_table_are_escaped_not_clipped():
    """Any value up to MAX_MAGNITUDE survives, on either side of any table, and bits()
    is exactly what the stream costs."""
    coder = TableCoder([Table(quantize_pmf([1, 2, 1]), -1), Table(quantize_pmf([1] * 5), 3)])
    rng = np.random.default_rng(2)
    edges = [-MAX_MAGNITUDE, MAX_MAGNITUDE, -2, 2, 1, -1, 0, 2, 3, 7, 8, 300, -300, 256, 257, 65535]
    values = np.concatenate([edges, rng.integers(-2**20, 2**20, 500), rng.integers(-3, 9, 4000)])
    ids = rng.integers(0, 2, values.size)
    data = coder.encode(values, ids)
    np.testing.assert_array_equal(coder.decode(data, ids), values)
    ideal = coder.bits(values, ids)
    assert ideal <= 8 * len(data) <= ideal + 64
    # One escape costs the escape symbol (~20 bits), 6 header bits and its length's bits.
    one = coder.bits(np.array([2 + 2**10 - 1]), np.array([0]))
    assert 19.5 + 6 + 10 < one < 20.5 + 6 + 10
    with pytest.raises(ValueError):
        coder.encode(np.array([MAX_MAGNITUDE + 1]), np.array([0]))


def test_escapes_in_a_latent_layer_round_trip():
    """The shared Gaussian tables with a few far outliers (a prior that is overconfident)."""
    coder = gaussian_coder()
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 10, 20_000)
    values = np.round(rng.normal(0, scale_levels()[ids])).astype(np.int64)
    far = rng.choice(values.size, 300, replace=False)
    values[far] = rng.integers(-5000, 5000, far.size)
    data = coder.encode(values, ids)
    np.testing.assert_array_equal(coder.decode(data, ids), values)
    assert coder.bits(values, ids) <= 8 * len(data) <= coder.bits(values, ids) + 64


def test_bad_stream_raises_stream_error():
    coder = TableCoder([Table(quantize_pmf([1, 1, 1]), -1)])
    with pytest.raises(StreamError):
        coder.decode(b"abc", np.array([0]))


def test_quantize_pmf_validates():
    with pytest.raises(ValueError):
        quantize_pmf([np.nan, 1])
    with pytest.raises(ValueError):
        quantize_pmf([0, 0])
    counts = quantize_pmf([1e-30, 1.0])
    assert counts.min() >= 1


def test_bits_are_exact_for_outliers():
    """Symbols in the floor of a table cost what constriction charges, not what the
    float pmf says (the estimate must never exceed the bytes written)."""
    coder = gaussian_coder()
    rng = np.random.default_rng(1)
    ids = np.zeros(4000, dtype=np.int64)  # the narrowest table
    values = rng.integers(-3, 4, ids.size)  # far too wide for std 0.11
    data = coder.encode(values, ids)
    ideal = coder.bits(values, ids)
    assert ideal <= 8 * len(data) <= ideal + 64


def test_parts_decode_in_order_with_ids_that_depend_on_earlier_parts():
    """A checkerboard layer: the second part's tables are chosen from the first part's
    decoded values, and escapes in either part survive."""
    coder = gaussian_coder()
    rng = np.random.default_rng(3)
    ids_a = rng.integers(0, len(scale_levels()), 3000)
    values_a = np.round(rng.normal(0, scale_levels()[ids_a])).astype(np.int64)
    values_a[:3] = [10**6, -10**6, 5000]
    ids_b = np.clip(np.abs(values_a), 0, len(scale_levels()) - 1)  # depends on part one
    values_b = np.round(rng.normal(0, scale_levels()[ids_b])).astype(np.int64)
    values_b[-1] = -70000
    data = coder.encode_parts([(values_a, ids_a), (values_b, ids_b)])
    decoder = coder.decoder(data)
    got_a = decoder.decode(ids_a)
    np.testing.assert_array_equal(got_a, values_a)
    np.testing.assert_array_equal(decoder.decode(np.clip(np.abs(got_a), 0, len(scale_levels()) - 1)), values_b)
    ideal = coder.bits(values_a, ids_a) + coder.bits(values_b, ids_b)
    assert ideal <= 8 * len(data) <= ideal * 1.001 + 64
    # one part is exactly encode()
    assert coder.encode_parts([(values_a, ids_a)]) == coder.encode(values_a, ids_a)

import math

import numpy as np
import pytest
import torch
from PIL import Image

import codec
from codec import CodecError, FormatError
from codec.container import parse, serialize
from codec.images import to_tensor

from conftest import natural_image


def test_symbols_round_trip_bit_exact(tiny_codec):
    img = natural_image(70, 130)
    x = to_tensor([img], tiny_codec.config.pad_multiple)
    layers = tiny_codec._coder.encode(x, 3.0)
    data = tiny_codec.compress(img, 3.0)
    decoded = tiny_codec.decode_symbols(data)
    for a, b in zip(layers, decoded):
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.table_ids, b.table_ids)


def test_decoder_output_matches_encoder_reconstruction(tiny_codec):
    img = natural_image(64, 64, seed=1)
    x = to_tensor([img], 64)
    layers = tiny_codec._coder.encode(x, 5.0)
    expected = tiny_codec._coder.reconstruct(layers, 64, 64, 5.0)
    got = np.asarray(tiny_codec.decompress(tiny_codec.compress(img, 5.0)))
    want = (expected[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    np.testing.assert_array_equal(got, want)


def test_written_bytes_match_estimate(shipped_codec):
    img = natural_image(512, 768, seed=2)
    for quality in (1.0, 4.0, 8.0):
        est = shipped_codec.estimate(img, quality)
        c = parse(shipped_codec.compress(img, quality))
        payload_bits = [8 * len(chunk) for chunk in c.chunks]
        for written, layer in zip(payload_bits, est.layers):
            assert written >= layer.bits
        # each chunk is whole 32-bit words and ends with the coder's 64-bit state: up to two
        # words a chunk (measured 43-50 bits a chunk on a 0.02 bpp file of hvae-v9, quality 1)
        assert sum(payload_bits) <= est.bits * 1.005 + 64 * len(payload_bits), (sum(payload_bits), est.bits)


def test_prefix_decoding(tiny_codec):
    img = natural_image(96, 80, seed=3)
    data = tiny_codec.compress(img, 6.0)
    c = parse(data)
    full = np.asarray(tiny_codec.decompress(data)).astype(int)
    end = c.header_size
    for k, size in enumerate(c.chunk_sizes, start=1):
        end += size
        prefix = tiny_codec.decompress(data[:end])
        assert prefix.size == (80, 96)
        np.testing.assert_array_equal(np.asarray(prefix), np.asarray(tiny_codec.decompress(data, layers=k)))
    assert np.array_equal(np.asarray(tiny_codec.decompress(data, layers=3)), full)


def test_progressive_quality_improves_with_layers(shipped_codec):
    img = natural_image(256, 256, seed=4)
    data = shipped_codec.compress(img, 6.0)
    mse = [np.mean((np.asarray(shipped_codec.decompress(data, layers=k)).astype(float) - img) ** 2)
           for k in range(1, shipped_codec.num_layers + 1)]
    assert mse[-1] < mse[0]


def test_quality_is_monotone_in_rate(shipped_codec):
    img = natural_image(256, 384, seed=5)
    sizes = [len(shipped_codec.compress(img, q)) for q in (1, 3, 5, 8)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_batch_files_decode_like_single(tiny_codec):
    imgs = [natural_image(64, 128, seed=s) for s in (6, 7)]
    x = to_tensor(imgs, 64)
    layers = tiny_codec._coder.encode(x, 2.0)
    files = tiny_codec.compress_batch(imgs, 2.0)
    for n, data in enumerate(files):
        decoded = tiny_codec.decode_symbols(data)
        for k, layer in enumerate(decoded):
            np.testing.assert_array_equal(layer.values[0], layers[k].values[n])
            np.testing.assert_array_equal(layer.table_ids[0], layers[k].table_ids[n])


def test_wrong_model_is_rejected(tiny_codec):
    other = codec.Codec.random(tiny_codec.config, seed=1)
    data = tiny_codec.compress(natural_image(8, 8), 2.0)
    with pytest.raises(FormatError, match="made by model"):
        other.decompress(data)


@pytest.mark.parametrize("quality", [0.5, 9, float("nan"), "high"])
def test_bad_quality(tiny_codec, quality):
    with pytest.raises(CodecError, match="quality"):
        tiny_codec.compress(natural_image(8, 8), quality)


@pytest.mark.parametrize("layers", [0, 4, 1.5])
def test_bad_layer_count(tiny_codec, layers):
    data = tiny_codec.compress(natural_image(8, 8), 2.0)
    with pytest.raises(CodecError, match="layers"):
        tiny_codec.decompress(data, layers=layers)


def test_estimate_is_typed(tiny_codec):
    est = tiny_codec.estimate(natural_image(32, 48), 3.0)
    assert isinstance(est, codec.Estimate) and len(est.layers) == 3
    assert est.bpp == pytest.approx(est.bits / (32 * 48))


def test_module_level_shortcuts():
    img = Image.fromarray(natural_image(40, 60, seed=8))
    data = codec.compress(img, quality=2)
    out = codec.decompress(data)
    assert out.size == img.size and out.mode == "RGB"


def test_module_decompress_of_unknown_model_is_a_format_error(tiny_codec):
    data = tiny_codec.compress(natural_image(8, 8), 2.0)  # made by "tiny", not installed
    with pytest.raises(FormatError, match="not installed"):
        codec.decompress(data)


def test_default_quality_sits_at_one_lambda_whatever_the_anchors(tiny_codec):
    from dataclasses import replace

    assert tiny_codec.default_quality == 4.0  # the 8 default anchors: lambda 0.013 is the 4th
    img = natural_image(32, 48)
    assert tiny_codec.compress(img) == tiny_codec.compress(img, 4.0)
    assert tiny_codec.estimate(img).quality == 4.0
    wide = replace(tiny_codec.config, lambdas=(0.0004, 0.0009, 0.0018, 0.0035, 0.0067, 0.013, 0.025))
    assert wide.default_quality == 6.0
    assert replace(wide, lambdas=(0.0004, 0.0009)).default_quality == 2.0  # clamped to the range
    between = 1 + math.log(1.3) / math.log(2)  # 0.013 is 1.3x the first of two anchors a factor 2 apart
    assert replace(wide, lambdas=(0.01, 0.02)).default_quality == pytest.approx(between, abs=1e-3)


def test_a_file_of_a_model_not_installed_names_it_and_its_weights(tiny_codec):
    data = tiny_codec.compress(natural_image(32, 48), 2.0)
    with pytest.raises(codec.FormatError) as e:
        codec.decompress(data)
    message = str(e.value)
    assert repr(tiny_codec.name) in message and tiny_codec.digest.hex() in message and "\n" not in message

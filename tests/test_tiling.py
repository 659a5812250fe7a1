"""Tiled transforms: the same pixels as one whole-image pass, in memory bounded by the tile."""
from dataclasses import replace

import numpy as np
import torch

from codec import container
from codec.images import to_image, to_tensor
from codec.latent_codec import HALO, TILE, tiles
from conftest import natural_image


def test_tiles_cover_the_grid_once():
    h, w = 2 * TILE + 5, TILE + 1
    seen = np.zeros((h, w), int)
    for (i0, i1, j0, j1), (a, b, c, d) in tiles(h, w):
        seen[i0:i1, j0:j1] += 1
        assert a == max(0, i0 - HALO) and b == min(h, i1 + HALO) and c == max(0, j0 - HALO) and d == min(w, j1 + HALO)
    assert (seen == 1).all()


def test_version_2_files_decode_in_one_pass_later_versions_over_tiles(shipped_codec):
    """A version-2 file (written before tiling) decodes to exactly the pixels of one whole-image
    pass; the tiled synthesis of later versions agrees with it to float rounding."""
    coder = shipped_codec._coder
    img = natural_image(16 * (TILE + 7), 16 * (TILE + 3), seed=8)  # 2 x 2 tiles
    data = shipped_codec.compress(img, 6.0)
    parsed = container.parse(data)
    assert parsed.header.version == container.VERSION >= 3
    old = container.serialize(replace(parsed.header, version=2), list(parsed.chunks))
    x = to_tensor([img], shipped_codec.config.pad_multiple)
    layers = coder.encode(x, 6.0)
    t, _ = coder._top_down(1, x.shape[2], x.shape[3], 6.0, lambda k, ids, prior: layers[k].values, version=2)
    with torch.no_grad():
        whole = coder.model.g_s(t.float().contiguous(memory_format=torch.channels_last)).clamp_(0, 1)
    expected = np.asarray(to_image(whole[0], img.shape[1], img.shape[0], "RGB"))
    assert np.array_equal(np.asarray(shipped_codec.decompress(old)), expected)
    tiled = coder._synthesize(t, version=3)
    assert float((tiled - whole).abs().max()) < 1e-5
    diff = np.abs(np.asarray(shipped_codec.decompress(data), dtype=int) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-4


def test_tiled_analysis_matches_one_pass_to_rounding(shipped_codec):
    coder = shipped_codec._coder
    img = natural_image(16 * (TILE + 7), 16 * (TILE + 9), seed=9)
    x = to_tensor([img], shipped_codec.config.pad_multiple)
    with torch.no_grad():
        whole = coder.model.bottom_up(x.contiguous(memory_format=torch.channels_last))
    for a, b in zip(coder.analyze(x), whole):
        assert a.shape == b.shape and float((a - b).abs().max()) < 1e-4
    data = shipped_codec.compress(img, 6.0)
    assert shipped_codec.decompress(data).size == (img.shape[1], img.shape[0])

"""Random mutations and truncations: only FormatError (or a valid prefix), never a crash."""
import time

import numpy as np
import pytest

from codec import FormatError
from codec.container import parse

from conftest import natural_image

NUM_CASES = 3000


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    kind = rng.integers(6)
    if kind == 0:  # flip bits
        for _ in range(rng.integers(1, 5)):
            i = rng.integers(len(b))
            b[i] ^= 1 << rng.integers(8)
    elif kind == 1:  # truncate
        b = b[: rng.integers(len(b))]
    elif kind == 2:  # overwrite a run with random bytes
        i = rng.integers(len(b))
        n = rng.integers(1, 16)
        b[i : i + n] = rng.integers(0, 256, min(n, len(b) - i), dtype=np.uint8).tobytes()
    elif kind == 3:  # insert
        i = rng.integers(len(b) + 1)
        b[i:i] = rng.integers(0, 256, rng.integers(1, 9), dtype=np.uint8).tobytes()
    elif kind == 4:  # delete
        i = rng.integers(len(b))
        del b[i : i + rng.integers(1, 9)]
    else:  # garbage of similar length, sometimes with the right magic
        b = bytearray(rng.integers(0, 256, len(b), dtype=np.uint8).tobytes())
        if rng.random() < 0.5:
            b[:4] = data[:4]
    return bytes(b)


def _with_alpha_and_metadata():
    from PIL import Image

    a = np.dstack([natural_image(70, 90, seed=12), (np.arange(90) * 2.8).astype(np.uint8)[None].repeat(70, 0)])
    im = Image.fromarray(a, "RGBA")
    im.info.update(icc_profile=b"icc" * 40, exif=b"Exif\x00\x00MM" + bytes(40), xmp=b"<x:xmpmeta/>")
    return im


@pytest.mark.parametrize("kind", ["rgb", "rgba+metadata"])
def test_fuzz_mutated_files(tiny_codec, kind):
    image = natural_image(70, 90, seed=12) if kind == "rgb" else _with_alpha_and_metadata()
    data = tiny_codec.compress(image, 4.0)
    valid_prefixes = set()
    c = parse(data)
    assert (c.alpha is None) == (kind == "rgb")
    end = c.header_size + c.side_size
    for size in c.chunk_sizes:
        end += size
        valid_prefixes.add(data[:end])
    rng = np.random.default_rng(1234)
    outcomes = {"error": 0, "decoded": 0}
    start = time.time()
    for _ in range(NUM_CASES):
        mutated = _mutate(data, rng)
        t0 = time.time()
        try:
            image = tiny_codec.decompress(mutated)
        except FormatError:
            outcomes["error"] += 1
        else:
            assert mutated in valid_prefixes, "a corrupted file decoded without an error"
            assert image.size == (90, 70)
            outcomes["decoded"] += 1
        assert time.time() - t0 < 5, "one case took too long"
    assert outcomes["error"] > NUM_CASES * 0.9
    print(f"fuzz: {NUM_CASES} cases, {outcomes}, {time.time() - start:.1f} s")

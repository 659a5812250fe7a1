"""Golden bitstreams: a file written by a shipped model decodes to the same pixels forever.

``tests/expected/`` holds small committed images, the ``.hvc`` files every shipped model
wrote from them (``v<format version>/<model>/<image>-q<quality>.hvc``), the decoded pixels
of each (PNG) and ``golden.json``: the sha256 of every file, of its symbols, of its decoded
pixels and of each progressive prefix's pixels, the exact ANS words of each layer of two
seeded tiny models (``tiny/``, weights committed), and the fixed-point weights of the
Gaussian tables. The tests check that

* every golden file ever written, of every format version, still decodes to its pixels;
* the encoder of the current version still writes exactly the golden bytes;
* the coding tables and the pinned constriction release are the ones the files were made with.

Regenerate with ``GENERATE_EXPECTED=1 pytest tests/test_golden.py`` (as CompressAI's
``GENERATE_EXPECTED``). Regeneration adds files for new models and rewrites the current
version's files when only the encoder changed, but refuses, naming the files, when an
existing golden file would decode differently: that change needs a new
``codec.container.VERSION`` whose decoder still reads every earlier one, and the earlier
version's files stay in the suite unchanged.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

import codec
from codec import ans, container
from codec.checkpoints import export_release, load_release, read_manifest
from codec.entropy_params import gaussian_coder
from codec.model import HierarchicalVAE
from conftest import REPO, TINY, natural_image, with_context

EXPECTED = REPO / "tests" / "expected"
GOLDEN = EXPECTED / "golden.json"
IMAGES = EXPECTED / "images"
TINY_DIR = EXPECTED / "tiny"
GENERATE = os.environ.get("GENERATE_EXPECTED") == "1"
# Gaussian tables whose fixed-point weights are written out in full (scale indices).
PINNED_TABLES = (0, 40)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def symbols_digest(layers) -> str:
    h = hashlib.sha256()
    for layer in layers:
        h.update(layer.values.astype("<i8").tobytes() + layer.table_ids.astype("<i8").tobytes())
    return h.hexdigest()


def pixels_digest(image: Image.Image) -> str:
    return sha256(image.mode.encode() + np.asarray(image).tobytes())


def words(payload: bytes) -> list[int]:
    return np.frombuffer(payload, dtype="<u4").tolist()


# -- the inputs ------------------------------------------------------------------------------
# Inputs coded by the tiny models only: large enough for what only large images do (two tiles
# of the transforms, bands of the top-down pass: 68 x 24 finest latents, padded; three bands of
# the finest layer of format version 5: 132 x 144), too large to code by every shipped model at
# every quality here. Their decoded pixels are pinned by digest only.
LARGE = ("gray-1040x384", "gray-2080x2304")
# Inputs made from committed ones (too large to commit), coded at the default quality only.
DERIVED = {"gray-2080x2304": lambda images: Image.fromarray(np.tile(np.asarray(images["gray-1040x384"]), (6, 2)))}


def source_images() -> dict[str, Image.Image]:
    """The committed inputs: an RGB image, a grayscale one, an odd size (37x53) and a wide
    gray one (:data:`LARGE`)."""
    if GENERATE:
        IMAGES.mkdir(parents=True, exist_ok=True)
        made = {"rgb-128x96": lambda: Image.fromarray(natural_image(96, 128, seed=21)),
                "gray-64x80": lambda: Image.fromarray(natural_image(80, 64, seed=22)).convert("L"),
                "rgb-37x53": lambda: Image.fromarray(natural_image(53, 37, seed=23)),
                "gray-1040x384": lambda: Image.fromarray(natural_image(192, 520, seed=24)).convert("L")
                .resize((1040, 384), Image.BILINEAR),
                "rgba-48x40": _rgba_with_metadata}
        for name, make in made.items():
            if not (IMAGES / f"{name}.png").exists():
                image = make()
                image.save(IMAGES / f"{name}.png", optimize=True, **image.encoderinfo)
    images = {p.stem: Image.open(p) for p in sorted(IMAGES.glob("*.png"))}
    return images | {name: make(images) for name, make in DERIVED.items()}


def _rgba_with_metadata() -> Image.Image:
    """Format version 4's chunks: an alpha plane, an ICC profile, EXIF and XMP (in the PNG)."""
    from PIL import PngImagePlugin

    alpha = np.tile(np.linspace(0, 255, 48).astype(np.uint8), (40, 1))
    alpha[10:20, 5:15] = 0
    image = Image.fromarray(np.dstack([natural_image(40, 48, seed=25), alpha]), "RGBA")
    exif = Image.Exif()
    exif[0x0112] = 6
    text = PngImagePlugin.PngInfo()
    text.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta xmlns:x="adobe:ns:meta/"/>', zip=False)
    image.encoderinfo = {"icc_profile": b"not a real profile, carried as given", "exif": exif.tobytes(),
                         "pnginfo": text}
    return image


def make_tiny_models() -> None:
    """Two seeded tiny models, without and with a checkerboard context, their weights
    committed (so the pinned words do not depend on torch's initialisation)."""
    if not (TINY_DIR / "MANIFEST.json").exists():
        torch.manual_seed(0)
        export_release(HierarchicalVAE(TINY), "tiny", TINY_DIR, half=False)
        torch.manual_seed(0)
        model = with_context(HierarchicalVAE(replace(TINY, name="tiny-checkerboard", context="checkerboard")))
        export_release(model, "tiny-checkerboard", TINY_DIR, half=False)


def qualities(c: codec.Codec) -> list[float]:
    """A fractional low quality, the default and the highest."""
    return sorted({1.5, c.default_quality, float(c.num_qualities)})


# -- one golden case -------------------------------------------------------------------------
def record(c: codec.Codec, data: bytes, with_words: bool) -> dict:
    """Everything pinned about one file: its bytes, symbols, pixels and prefixes' pixels."""
    parsed = container.parse(data)
    entry = {"sha256": sha256(data), "symbols_sha256": symbols_digest(c.decode_symbols(data)),
             "pixels_sha256": pixels_digest(c.decompress(data)),
             "prefix_pixels_sha256": [pixels_digest(c.decompress(data, layers=k))
                                      for k in range(1, c.num_layers)]}
    if parsed.metadata:
        entry["metadata_sha256"] = metadata_digest(c.decompress(data))
    if with_words:
        entry["layer_words"] = [words(chunk) for chunk in parsed.chunks]
    return entry


def metadata_digest(image: Image.Image) -> str:
    """sha256 of the ICC profile, EXIF and XMP a decoded image carries in ``info``."""
    return sha256(b"".join(k.encode() + b"=" + image.info[k] for k in ("icc_profile", "exif", "xmp")
                           if k in image.info))


def decode_check(c: codec.Codec, data: bytes, expected: dict) -> list[str]:
    """What differs between decoding ``data`` now and the golden record (empty: nothing)."""
    problems = []
    if sha256(data) != expected["sha256"]:
        problems.append("the committed file itself changed")
    if symbols_digest(c.decode_symbols(data)) != expected["symbols_sha256"]:
        problems.append("decoded symbols differ")
    if pixels_digest(c.decompress(data)) != expected["pixels_sha256"]:
        problems.append("decoded pixels differ")
    if "metadata_sha256" in expected and metadata_digest(c.decompress(data)) != expected["metadata_sha256"]:
        problems.append("decoded metadata differs")
    for k, digest in enumerate(expected["prefix_pixels_sha256"], start=1):
        if pixels_digest(c.decompress(data, layers=k)) != digest:
            problems.append(f"the {k}-layer prefix decodes to other pixels")
    return problems


def case_name(image: str, quality: float) -> str:
    return f"{image}-q{quality:g}"


def golden_cases() -> list[tuple[str, str, str, float, bool]]:
    """(version folder, model, image, quality, tiny) of every case the current code writes."""
    cases = []
    names = [(m, False) for m in sorted(read_manifest()["models"])]
    names += [(m, True) for m in sorted(read_manifest(TINY_DIR)["models"])]
    for name, tiny in names:
        c = _codec(name, tiny)
        for image in source_images():
            if image in LARGE and not tiny:
                continue
            for q in [c.default_quality] if image in DERIVED else qualities(c):
                cases.append((f"v{container.VERSION}", name, image, q, tiny))
    return cases


_CODECS: dict[tuple[str, bool], codec.Codec] = {}


def _codec(name: str, tiny: bool) -> codec.Codec:
    if (name, tiny) not in _CODECS:
        _CODECS[name, tiny] = (codec.Codec(load_release(name, TINY_DIR)[1], name) if tiny
                               else codec.load(name))
    return _CODECS[name, tiny]


def table_weights() -> dict:
    coder = gaussian_coder()
    all_weights = [ans.coder_weights(np.append(t.counts, ans.ESCAPE_COUNT)) for t in coder.tables]
    return {"gaussian_sha256": sha256(b"".join(w.astype("<i8").tobytes() for w in all_weights)),
            "gaussian_tables": {str(i): {"offset": coder.tables[i].offset, "weights": all_weights[i].tolist()}
                                for i in PINNED_TABLES}}


# -- regeneration ----------------------------------------------------------------------------
def regenerate() -> None:
    make_tiny_models()
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {"files": {}}
    changed = []
    for rel, expected in golden["files"].items():  # files of every version ever written
        data = (EXPECTED / rel).read_bytes()
        problems = decode_check(_codec(expected["model"], expected["tiny"]), data, expected)
        if problems:
            changed.append(f"{rel}: {', '.join(problems)}")
    if changed:
        pytest.fail("existing golden files would decode differently; bump codec.container.VERSION "
                         "(keeping the old decoder) instead of regenerating:\n" + "\n".join(changed), pytrace=False)
    images = source_images()
    for version, name, image, q, tiny in golden_cases():
        c = _codec(name, tiny)
        rel = f"{version}/{name}/{case_name(image, q)}.hvc"
        data = c.compress(images[image], q)
        (EXPECTED / rel).parent.mkdir(parents=True, exist_ok=True)
        (EXPECTED / rel).write_bytes(data)
        if image not in LARGE:
            c.decompress(data).save((EXPECTED / rel).with_suffix(".png"))
        golden["files"][rel] = {"model": name, "tiny": tiny, "image": image, "quality": q,
                                **record(c, data, with_words=tiny)}
    golden.update(format_version=container.VERSION, constriction=ans.CONSTRICTION_VERSION,
                  tables=table_weights())
    golden["files"] = dict(sorted(golden["files"].items()))
    GOLDEN.write_text(json.dumps(golden, indent=1) + "\n")


@pytest.fixture(scope="module")
def golden() -> dict:
    if GENERATE:
        regenerate()
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing: run GENERATE_EXPECTED=1 pytest tests/test_golden.py")
    return json.loads(GOLDEN.read_text())


# -- the tests -------------------------------------------------------------------------------
def test_constriction_is_the_release_the_tables_mirror():
    installed = importlib.metadata.version("constriction")
    assert installed == ans.CONSTRICTION_VERSION, (
        f"constriction {installed} is installed, but codec.ans.coder_weights mirrors the fixed-point "
        f"arithmetic of {ans.CONSTRICTION_VERSION}: install constriction=={ans.CONSTRICTION_VERSION}")


def test_coding_tables_are_the_golden_ones(golden):
    assert golden["constriction"] == ans.CONSTRICTION_VERSION
    assert table_weights() == golden["tables"]


def test_every_golden_file_decodes_to_its_pixels(golden):
    """Files of every format version ever written, by every model that wrote them."""
    installed = set(read_manifest()["models"])
    failures = []
    for rel, expected in golden["files"].items():
        if not expected["tiny"]:
            assert expected["model"] in installed, f"{rel}: model {expected['model']} is no longer shipped"
        data = (EXPECTED / rel).read_bytes()
        c = _codec(expected["model"], expected["tiny"])
        problems = decode_check(c, data, expected)
        if "decoded pixels differ" in problems and (EXPECTED / rel).with_suffix(".png").exists():
            stored = np.asarray(Image.open((EXPECTED / rel).with_suffix(".png")), dtype=np.int16)
            diff = np.abs(np.asarray(c.decompress(data), dtype=np.int16) - stored)
            problems.append(f"{int((diff > 0).sum())} values differ, at most by {int(diff.max())}")
        if problems:
            failures.append(f"{rel}: {', '.join(problems)}")
    assert not failures, "golden files decode differently:\n" + "\n".join(failures)


def test_every_format_version_is_still_read(golden):
    versions = {rel.split("/")[0] for rel in golden["files"]}
    assert f"v{container.VERSION}" in versions
    for rel in golden["files"]:
        parsed = container.parse((EXPECTED / rel).read_bytes())
        assert parsed.header.model_name == golden["files"][rel]["model"]


def test_the_encoder_writes_the_golden_bytes(golden):
    images = source_images()
    cases = golden_cases()
    missing = [f"v{container.VERSION}/{n}/{case_name(i, q)}.hvc" for _, n, i, q, _ in cases
               if f"v{container.VERSION}/{n}/{case_name(i, q)}.hvc" not in golden["files"]]
    assert not missing, f"no golden file for {missing} (a new model? run GENERATE_EXPECTED=1)"
    differ = []
    for version, name, image, q, tiny in cases:
        rel = f"{version}/{name}/{case_name(image, q)}.hvc"
        data = _codec(name, tiny).compress(images[image], q)
        if sha256(data) != golden["files"][rel]["sha256"]:
            differ.append(rel)
    assert not differ, f"the encoder now writes other bytes for {differ}"


def test_the_large_golden_images_cross_tiles_and_bands():
    from codec.bands import LAYER_BAND_POSITIONS, band_rows
    from codec.latent_codec import tiles

    layer_bands = {}
    for name in LARGE:
        w, h = source_images()[name].size
        pad, s = TINY.pad_multiple, TINY.base_stride
        fh, fw = (h + -h % pad) // s, (w + -w % pad) // s
        assert len(list(tiles(fh, fw))) > 1 and band_rows(fw) < fh, name
        layer_bands[name] = -(-fh // max(2, LAYER_BAND_POSITIONS // fw))
    assert max(layer_bands.values()) >= 3, layer_bands  # a band with neighbours on both sides


def test_tiny_models_write_the_pinned_ans_words(golden):
    """The exact 32-bit words of each layer, for a model whose weights are committed."""
    images = source_images()
    tiny = {rel: e for rel, e in golden["files"].items()
            if e["tiny"] and rel.startswith(f"v{container.VERSION}/")}
    assert {e["model"] for e in tiny.values()} == {"tiny", "tiny-checkerboard"}
    for rel, expected in tiny.items():
        data = _codec(expected["model"], True).compress(images[expected["image"]], expected["quality"])
        assert [words(chunk) for chunk in container.parse(data).chunks] == expected["layer_words"], rel

"""Packed releases (codec pack): byte planes in a zip that load to the same weights bit for bit."""
import json
import zipfile

import pytest
import torch
from PIL import Image

import codec
from codec import CodecError
from codec.checkpoints import (PACKED_SUFFIX, export_release, load_release, pack_bytes, pack_release,
                               read_manifest, release_bytes, release_config)
from codec.cli import main
from codec.model import HierarchicalVAE

from conftest import REPO, TINY, natural_image


@pytest.fixture()
def folder(tmp_path):
    torch.manual_seed(0)
    export_release(HierarchicalVAE(TINY), "m16", tmp_path, make_default=True)  # float16
    export_release(HierarchicalVAE(TINY), "m32", tmp_path, half=False)  # float32: four planes
    return tmp_path


@pytest.mark.parametrize("name", ["m16", "m32"])
def test_pack_and_unpack_keep_the_bytes_and_the_weights(folder, name):
    plain = folder / f"{name}.safetensors"
    original = plain.read_bytes()
    entry = read_manifest(folder)["models"][name]
    _, before = load_release(name, folder)

    packed = pack_release(name, folder)
    assert packed.name == f"{name}{PACKED_SUFFIX}" and not plain.exists()
    assert read_manifest(folder)["models"][name] == {**entry, "file": packed.name}  # same sha256
    assert release_bytes(packed) == original
    assert packed.stat().st_size < len(original)
    with zipfile.ZipFile(packed) as z:
        width = 2 if name == "m16" else 4
        assert z.namelist() == ["header"] + [f"plane-{j}" for j in range(width)]
    _, after = load_release(name, folder)
    for (k, a), (_, b) in zip(before.state_dict().items(), after.state_dict().items()):
        assert torch.equal(a, b), k
    assert release_config(packed) == before.config

    assert pack_release(name, folder, unpack=True) == plain
    assert plain.read_bytes() == original and not packed.exists()


def test_packing_is_deterministic(folder):
    data = (folder / "m16.safetensors").read_bytes()
    assert pack_bytes(data) == pack_bytes(data)


def test_a_damaged_packed_file_is_one_line(folder):
    packed = pack_release("m16", folder)
    raw = bytearray(packed.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # inside a plane: the zip's CRC or the sha256 catches it
    packed.write_bytes(bytes(raw))
    with pytest.raises(CodecError) as e:
        load_release("m16", folder)
    assert str(packed) in str(e.value) and "\n" not in str(e.value)
    packed.write_bytes(bytes(raw[:200]))
    with pytest.raises(CodecError, match="not a packed release"):
        load_release("m16", folder)


def test_cli_pack_codes_the_same_bytes(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "ckpts"
    torch.manual_seed(0)
    export_release(HierarchicalVAE(TINY), "tiny", folder, make_default=True)
    monkeypatch.setenv("CODEC_CHECKPOINTS", str(folder))
    monkeypatch.chdir(tmp_path)
    Image.fromarray(natural_image(40, 56)).save("a.png")
    codec._cached.cache_clear()
    assert main(["compress", "a.png", "-q", "3", "-o", "plain.hvc"]) == 0
    assert main(["pack", "tiny"]) == 0
    assert f"tiny: tiny{PACKED_SUFFIX}" in capsys.readouterr().out
    codec._cached.cache_clear()
    assert main(["compress", "a.png", "-q", "3", "-o", "packed.hvc"]) == 0
    assert (tmp_path / "plain.hvc").read_bytes() == (tmp_path / "packed.hvc").read_bytes()
    assert main(["models"]) == 0
    assert "qualities 1..8" in capsys.readouterr().out
    assert main(["pack", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and len(err.strip().splitlines()) == 1
    codec._cached.cache_clear()


def test_shipped_releases_all_verify():
    """Every shipped model and peer, packed or plain, rebuilds to its manifest's sha256."""
    from codec.checkpoints import checkpoint_dir, verified_release

    for sub, kind in (("", "model"), ("peers", "peer")):
        where = checkpoint_dir() / sub
        for name in read_manifest(where)["models"]:
            assert verified_release(name, where, kind)[0] == name


def test_the_default_model_is_stored_plain():
    """The default loads on every call: it stays plain safetensors (no unpacking time)."""
    manifest = json.loads((REPO / "checkpoints" / "MANIFEST.json").read_text())
    assert manifest["models"][manifest["default"]]["file"].endswith(".safetensors")

import json
from dataclasses import replace

import pytest
import torch

import codec
from codec import CodecError
from codec.checkpoints import export_release, load_release, read_manifest
from codec.model import HierarchicalVAE

from conftest import TINY, with_context


@pytest.mark.parametrize("context", ["none", "checkerboard"])
def test_export_and_load_round_trip(tmp_path, context):
    torch.manual_seed(0)
    model = HierarchicalVAE(replace(TINY, context=context))
    if context != "none":
        with_context(model)
    export_release(model, "m1", tmp_path, half=False)
    name, loaded = load_release(None, tmp_path)
    assert name == "m1" and loaded.config.latent_channels == TINY.latent_channels
    assert loaded.config.context == context
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


def test_tampered_file_is_refused(tmp_path):
    export_release(HierarchicalVAE(TINY), "m1", tmp_path)
    path = tmp_path / "m1.safetensors"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(CodecError, match="sha256"):
        load_release("m1", tmp_path)


def test_unknown_model(tmp_path):
    with pytest.raises(CodecError, match="no model"):
        load_release(None, tmp_path)
    export_release(HierarchicalVAE(TINY), "m1", tmp_path)
    with pytest.raises(CodecError, match="unknown model"):
        load_release("m2", tmp_path)


def test_shipped_manifest_is_consistent():
    manifest = read_manifest()
    assert manifest["default"] in manifest["models"]
    model = codec.load()
    assert model.name == manifest["default"]

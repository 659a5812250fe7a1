"""Shipped weights: release files in ``checkpoints/`` and their ``MANIFEST.json``.

A release file is a safetensors file whose metadata holds the model config (JSON), so a
checkpoint loads without knowing its shape beforehand; no pickle is involved. The
manifest records each file's sha256, verified on every load, and the default model::

    {"default": "hvae-v1",
     "models": {"hvae-v1": {"file": "hvae-v1.safetensors", "sha256": "...", "description": "..."}}}
"""
from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

from typing import TYPE_CHECKING

from safetensors import safe_open

from .config import ModelConfig
from .errors import CodecError

if TYPE_CHECKING:  # torch loads with the weights, not with the manifest (`codec models` needs none)
    import torch

    from .model import HierarchicalVAE

MANIFEST = "MANIFEST.json"


PACKAGED = Path(__file__).resolve().parent / "models"  # where a wheel installs checkpoints/
CHECKOUT = Path(__file__).resolve().parent.parent / "checkpoints"


def checkpoint_dir() -> Path:
    """``$CODEC_CHECKPOINTS`` if set; else the models installed with the package (a wheel or a
    non-editable install); else the repository's ``checkpoints/`` (a checkout)."""
    env = os.environ.get("CODEC_CHECKPOINTS")
    if env:
        return Path(env)
    return PACKAGED if (PACKAGED / MANIFEST).exists() else CHECKOUT


def read_manifest(folder: Path | None = None) -> dict:
    path = (folder or checkpoint_dir()) / MANIFEST
    if not path.exists():
        return {"default": None, "models": {}}
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CodecError(f"{path} is not valid JSON: {e}") from None
    manifest.setdefault("models", {})
    manifest.setdefault("default", None)
    return manifest


def read_training_state(path: Path) -> dict:
    """A checkpoint or snapshot written by ``codec train``: a dict with at least ``config``
    (JSON) and ``model`` (a state dict), read without pickle's code execution.

    Raises:
        CodecError: in one line, when the file is not such a checkpoint.
        OSError: when it cannot be read (missing, a folder, no permission).
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - torch raises many types, with multi-line texts
        raise CodecError(f"{path} is not a training checkpoint or snapshot ({type(e).__name__})") from None
    if not isinstance(state, dict) or not {"config", "model"} <= state.keys():
        raise CodecError(f"{path} is not a training checkpoint or snapshot (no config and weights)")
    return state


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_digest(model: HierarchicalVAE) -> bytes:
    """sha256 of the float32 weights, by sorted name: identifies a model in file headers."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to(torch.float32).contiguous().cpu()
        h.update(name.encode() + str(tuple(t.shape)).encode())
        h.update(t.numpy().astype("<f4").tobytes())
    return h.digest()


def release_config(path: Path) -> ModelConfig:
    """The config in a release file's metadata, without reading its weights.

    Raises:
        CodecError: in one line, when the file is not a release of our model.
    """
    with _as_release_error(path), safe_open(str(path), framework="numpy") as f:
        return ModelConfig.from_json(f.metadata()["config"])


def verified_release(name: str | None, folder: Path | None = None, kind: str = "model") -> tuple[str, Path]:
    """The release file of ``name`` (default: the manifest's default) in ``folder``, checked
    against the sha256 in its manifest -> (name, path).

    Raises:
        CodecError: in one line, when it is not installed, missing or altered.
    """
    folder = folder or checkpoint_dir()
    manifest = read_manifest(folder)
    name = name or manifest["default"]
    if not name:
        raise CodecError(f"no {kind} is installed in {folder} (see README: codec train / codec export)")
    entry = manifest["models"].get(name)
    if entry is None:
        known = ", ".join(sorted(manifest["models"])) or "none"
        raise CodecError(f"unknown {kind} {name!r} (installed: {known})")
    path = folder / entry["file"]
    if not path.exists():
        raise CodecError(f"{kind} file {path} is missing")
    if sha256_file(path) != entry["sha256"]:
        raise CodecError(f"{kind} file {path} does not match the sha256 in {MANIFEST}")
    return name, path


def read_release_file(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """A release file's metadata and tensors, as stored (no manifest check).

    Raises:
        CodecError: in one line, when it is not a safetensors file.
    """
    with _as_release_error(path), safe_open(str(path), framework="pt") as f:
        return f.metadata() or {}, {k: f.get_tensor(k) for k in f.keys()}


def write_release(state: dict[str, torch.Tensor], metadata: dict[str, str], name: str, folder: Path,
                  entry: dict, make_default: bool | None = False) -> Path:
    """Write ``folder/name.safetensors`` (through a temporary file and a rename) and its
    manifest entry (``entry`` plus file and sha256). ``make_default``: True makes it the
    default, False makes it the default only of a folder without one, None: the folder has
    no default (benchmark peers)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    manifest = read_manifest(folder)
    manifest["models"][name] = {"file": path.name, "sha256": sha256_file(path), **entry}
    if make_default is None:
        manifest.pop("default", None)
    elif make_default or not manifest["default"]:
        manifest["default"] = name
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def load_release(name: str | None = None, folder: Path | None = None) -> tuple[str, HierarchicalVAE]:
    """Load a shipped model by name (default: the manifest's default) -> (name, model)."""
    name, path = verified_release(name, folder)
    return name, read_release(path)


def read_release(path: Path) -> HierarchicalVAE:
    """The model in a release file (weights in float32), without checking any manifest.

    Raises:
        CodecError: in one line, when the file is not a release of our model.
    """
    from .model import HierarchicalVAE

    metadata, state = read_release_file(path)
    with _as_release_error(path):
        model = HierarchicalVAE(ModelConfig.from_json(metadata["config"]))
        model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()


@contextmanager
def _as_release_error(path: Path):
    """Turn what reading a release raises (OSError apart) into a one-line CodecError."""
    try:
        yield
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - safetensors, json, the config and torch raise many types
        raise CodecError(f"{path} is not a release of this codec ({type(e).__name__})") from None


def export_release(model: HierarchicalVAE, name: str, folder: Path | None = None,
                   half: bool = True, description: str = "", make_default: bool = False) -> Path:
    """Write ``name.safetensors`` (config in the metadata) and its manifest entry."""
    import torch

    dtype = torch.float16 if half else torch.float32
    state = {k: v.to(dtype) for k, v in model.state_dict().items()}
    config = ModelConfig(**{**json.loads(model.config.to_json()), "name": name})
    return write_release(state, {"config": config.to_json(), "format": "hvc-weights-1"}, name,
                         folder or checkpoint_dir(),
                         {"dtype": str(dtype).replace("torch.", ""), "description": description}, make_default)

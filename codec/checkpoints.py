"""Shipped weights: release files in ``checkpoints/`` and their ``MANIFEST.json``.

A release file is a safetensors file whose metadata holds the model config (JSON), so a
checkpoint loads without knowing its shape beforehand; no pickle is involved. The
manifest records the sha256 of each release's safetensors bytes, verified on every load, and
the default model::

    {"default": "hvae-v1",
     "models": {"hvae-v1": {"file": "hvae-v1.safetensors", "sha256": "...", "description": "..."}}}

A release may also be stored *packed* (``codec pack``), as ``NAME.planes.zip``: a zip archive
whose member ``header`` holds the safetensors header verbatim and whose member ``plane-j``
holds byte j of every tensor element (tensors in file order, those with elements wider than j
bytes), deflated where that helps. Splitting float16 weights into byte planes puts their
sign-and-exponent bytes together, which deflate shrinks by about a quarter, while the mantissa
bytes are close to random; the file is about 14% smaller than the safetensors it holds. Packing
is lossless: the loader rebuilds the exact safetensors bytes and checks them against the same
sha256, so a packed model decodes every file to the same pixels.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zipfile
import zlib
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
    with open(path, "rb") as f:
        packed = f.read(4) == ZIP_MAGIC
    if packed:
        with _as_release_error(path), zipfile.ZipFile(path) as z:
            return ModelConfig.from_json(_header(z.read("header"))["__metadata__"]["config"])
    with _as_release_error(path), safe_open(str(path), framework="numpy") as f:
        return ModelConfig.from_json(f.metadata()["config"])


def verified_release(name: str | None, folder: Path | None = None,
                     kind: str = "model") -> tuple[str, Path, bytes]:
    """The release of ``name`` (default: the manifest's default) in ``folder``, its
    safetensors bytes checked against the sha256 in its manifest -> (name, path, bytes).

    Raises:
        CodecError: in one line, when it is not installed, missing, damaged or altered.
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
    data = release_bytes(path)
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise CodecError(f"{kind} file {path} does not match the sha256 in {MANIFEST}")
    return name, path, data


def release_bytes(path: Path) -> bytes:
    """The safetensors bytes of a release file, plain or packed (no manifest check).

    Raises:
        CodecError: in one line, when a packed file is damaged.
        OSError: when it cannot be read.
    """
    with open(path, "rb") as f:
        data = f.read()
    return _unpack(data, path) if data[:4] == ZIP_MAGIC else data


def read_release_file(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """A release file's metadata and tensors, as stored (no manifest check).

    Raises:
        CodecError: in one line, when it is not a safetensors file (plain or packed).
    """
    return parse_release(release_bytes(path), path)


def parse_release(data: bytes, path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """Metadata and tensors of a release's safetensors bytes (``path`` names it in errors)."""
    from safetensors.torch import load

    with _as_release_error(path):
        return _header(data).get("__metadata__") or {}, load(data)


# -- packed releases: byte planes in a zip -----------------------------------------------
ZIP_MAGIC = b"PK\x03\x04"
PACKED_SUFFIX = ".planes.zip"
_WIDTHS = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
           "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def _header(data: bytes) -> dict:
    """The JSON header of safetensors bytes (or of their first 8 + n bytes)."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    if not isinstance(header, dict):
        raise ValueError("the safetensors header is not an object")
    return header


def _spans(header: dict) -> list[tuple[int, int, int]]:
    """[(start, end, element width)] of the tensors in file order; they must tile the data."""
    spans = sorted((*v["data_offsets"], _WIDTHS[v["dtype"]]) for k, v in header.items() if k != "__metadata__")
    at = 0
    for a, b, w in spans:
        if a != at or (b - a) % w:
            raise ValueError("tensor data is not contiguous")
        at = b
    return spans


def pack_bytes(data: bytes) -> bytes:
    """A release's safetensors bytes -> the packed zip (deterministic: fixed dates and order).

    Raises:
        ValueError, KeyError: when ``data`` is not safetensors whose tensors tile the data.
    """
    import numpy as np

    start = 8 + struct.unpack("<Q", data[:8])[0]
    spans = _spans(_header(data))
    if start + (spans[-1][1] if spans else 0) != len(data):
        raise ValueError("the data section does not match the header")
    body = np.frombuffer(data, dtype=np.uint8, offset=start)
    planes: dict[int, list[bytes]] = {}
    for a, b, w in spans:
        elements = body[a:b].reshape(-1, w)
        for j in range(w):
            planes.setdefault(j, []).append(elements[:, j].tobytes())
    members = {"header": data[:start], **{f"plane-{j}": b"".join(v) for j, v in sorted(planes.items())}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, content in members.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            deflate = len(zlib.compress(content, 9)) < len(content)  # mantissa planes: stored
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            z.writestr(info, content, compresslevel=9 if deflate else None)
    packed = out.getvalue()
    if _unpack(packed, Path("<packed>")) != data:  # never store what does not rebuild exactly
        raise ValueError("packing did not round-trip")
    return packed


def _unpack(packed: bytes, path: Path) -> bytes:
    """A packed release -> its safetensors bytes (``path`` names it in errors)."""
    import numpy as np

    try:
        with zipfile.ZipFile(io.BytesIO(packed)) as z:
            header = z.read("header")
            spans = _spans(_header(header))
            body = np.empty(spans[-1][1] if spans else 0, dtype=np.uint8)
            for j in range(max((w for _, _, w in spans), default=0)):
                plane = np.frombuffer(z.read(f"plane-{j}"), dtype=np.uint8)
                at = 0
                for a, b, w in spans:
                    if w > j:
                        count = (b - a) // w
                        body[a:b].reshape(-1, w)[:, j] = plane[at : at + count]
                        at += count
                if at != len(plane):
                    raise ValueError(f"plane-{j} has {len(plane) - at} bytes too many")
        return header + body.tobytes()
    except Exception as e:  # noqa: BLE001 - zipfile, zlib, json and numpy raise many types
        raise CodecError(f"{path} is not a packed release of this codec ({type(e).__name__})") from None


def pack_release(name: str, folder: Path | None = None, unpack: bool = False, kind: str = "model") -> Path:
    """Store an installed release packed (or, ``unpack``, as plain safetensors) -> its new path.
    The manifest's sha256 does not change; the old file goes only once the new one is written
    and the manifest points to it."""
    folder = folder or checkpoint_dir()
    name, old, data = verified_release(name, folder, kind)
    new = folder / (f"{name}.safetensors" if unpack else f"{name}{PACKED_SUFFIX}")
    if new == old:
        return old
    try:
        content = data if unpack else pack_bytes(data)
    except (ValueError, KeyError) as e:  # a dtype or layout this packing does not know
        raise CodecError(f"{old} cannot be packed: {e}") from None
    tmp = new.with_name(new.name + ".tmp")
    tmp.write_bytes(content)
    os.chmod(tmp, 0o644)
    os.replace(tmp, new)
    manifest = read_manifest(folder)
    manifest["models"][name]["file"] = new.name
    _write_manifest(folder, manifest)
    old.unlink()
    return new


def _write_manifest(folder: Path, manifest: dict) -> None:
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / MANIFEST)


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
    stale = manifest["models"].get(name, {}).get("file")
    manifest["models"][name] = {"file": path.name, "sha256": sha256_file(path), **entry}
    if make_default is None:
        manifest.pop("default", None)
    elif make_default or not manifest["default"]:
        manifest["default"] = name
    _write_manifest(folder, manifest)
    if stale and stale != path.name:  # the same name stored packed before: now replaced
        (folder / stale).unlink(missing_ok=True)
    return path


def load_release(name: str | None = None, folder: Path | None = None) -> tuple[str, HierarchicalVAE]:
    """Load a shipped model by name (default: the manifest's default) -> (name, model)."""
    name, path, data = verified_release(name, folder)
    return name, _model(*parse_release(data, path), path)


def read_release(path: Path) -> HierarchicalVAE:
    """The model in a release file (weights in float32), without checking any manifest.

    Raises:
        CodecError: in one line, when the file is not a release of our model.
    """
    return _model(*read_release_file(path), path)


def _model(metadata: dict[str, str], state: dict[str, torch.Tensor], path: Path) -> HierarchicalVAE:
    from .model import HierarchicalVAE

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

"""A wheel (and so any non-editable install) carries the shipped models and loads them."""
import hashlib
import json
import subprocess
import sys
import zipfile

import pytest
from setuptools import find_packages

from conftest import REPO

CHILD = """
import sys, codec, codec.checkpoints as c
import numpy as np
assert codec.__file__.startswith(sys.argv[1]), codec.__file__
model = codec.load()
data = model.compress(np.zeros((40, 50, 3), np.uint8), 3.0)
print(c.checkpoint_dir(), model.name, model.decompress(data).size)
"""


def _default() -> str:
    return json.loads((REPO / "checkpoints" / "MANIFEST.json").read_text())["default"]


def test_every_package_is_in_the_wheel_list():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set(find_packages(str(REPO), include=["codec*", "bench*"]))
    assert found <= listed, f"add {sorted(found - listed)} to pyproject.toml's packages"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(out), str(REPO)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    (path,) = out.glob("*.whl")
    return path


def test_the_wheel_holds_the_default_model(wheel):
    manifest = json.loads((REPO / "checkpoints" / "MANIFEST.json").read_text())
    entry = manifest["models"][manifest["default"]]
    with zipfile.ZipFile(wheel) as z:
        assert json.loads(z.read("codec/models/MANIFEST.json")) == manifest
        assert hashlib.sha256(z.read(f"codec/models/{entry['file']}")).hexdigest() == entry["sha256"]
        assert all(f"codec/models/{e['file']}" in z.namelist() for e in manifest["models"].values())


def test_codec_loads_from_the_unpacked_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    out = subprocess.run([sys.executable, "-c", CHILD, str(site)], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    folder, name, size = out.stdout.split(maxsplit=2)
    assert folder == str(site / "codec" / "models") and name == _default() and size.strip() == "(50, 40)"

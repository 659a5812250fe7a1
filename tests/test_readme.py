"""The README's Python example runs as written."""
import re
import shutil

import numpy as np
from PIL import Image

from conftest import REPO, SHARED, natural_image


def test_readme_python_example(tmp_path, monkeypatch):
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    kodim = SHARED / "kodak" / "kodim23.png"
    if kodim.exists():
        shutil.copy(kodim, tmp_path / "kodim23.png")
    else:
        Image.fromarray(natural_image(512, 768)).save(tmp_path / "kodim23.png")
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_readme_commands_match_ci():
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    for command in ('python3 -m venv .venv && . .venv/bin/activate', 'pip install -e ".[test]"', "pytest"):
        assert command in readme and command in ci

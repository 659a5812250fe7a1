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


def test_readme_commands_run_in_order_and_never_touch_the_photo(tmp_path, monkeypatch):
    """The CLI block of 'Compress and decompress', line by line, in a folder holding only
    photo.png: every command succeeds and photo.png stays as it was (in process: ``codec``'s
    entry point is ``codec.cli.main``; a subprocess per line would add ~3 s of imports each)."""
    import shlex

    import codec
    from codec.cli import main

    text = (REPO / "README.md").read_text()
    block = re.search(r"## Compress and decompress\n+```bash\n(.*?)```", text, flags=re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert len(commands) >= 5 and all(c.startswith("codec ") for c in commands)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CODEC_CHECKPOINTS", raising=False)
    codec._cached.cache_clear()
    Image.fromarray(natural_image(64, 96, seed=5)).save("photo.png")
    original = (tmp_path / "photo.png").read_bytes()
    for command in commands:
        assert main(shlex.split(command)[1:]) == 0, command
    assert (tmp_path / "photo.png").read_bytes() == original
    assert (tmp_path / "photo.decoded.png").exists() and (tmp_path / "coarse.png").exists()

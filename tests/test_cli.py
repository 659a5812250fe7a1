import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from codec.cli import main

from conftest import REPO, natural_image


@pytest.fixture()
def workdir(tmp_path, use_tiny_checkpoints, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(natural_image(40, 56)).save("a.png")
    Image.fromarray(natural_image(30, 20, seed=1)).convert("L").save("b.png")
    return tmp_path


def test_compress_decompress_info_models(workdir, capsys):
    assert main(["compress", "a.png", "-q", "3"]) == 0
    assert (workdir / "a.hvc").exists()
    assert main(["info", "a.hvc"]) == 0
    out = capsys.readouterr().out
    assert "56x40 RGB" in out and "layer 3" in out and "bpp" in out
    assert main(["decompress", "a.hvc", "-o", "a_out.png"]) == 0
    assert Image.open("a_out.png").size == (56, 40)
    assert main(["decompress", "a.hvc", "--layers", "1", "-o", "a1.png"]) == 0
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "qualities 1..8 (default 4)" in out


def test_models_lists_a_damaged_or_missing_release_and_says_so(tmp_path, tiny_checkpoints, monkeypatch, capsys):
    folder = tmp_path / "ckpts"
    shutil.copytree(tiny_checkpoints, folder)
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    entry = manifest["models"]["tiny"]
    (folder / "damaged.safetensors").write_bytes((folder / entry["file"]).read_bytes()[:100])
    manifest["models"]["damaged"] = {**entry, "file": "damaged.safetensors", "description": "cut short"}
    manifest["models"]["gone"] = {**entry, "file": "gone.safetensors", "description": "deleted"}
    (folder / "MANIFEST.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("CODEC_CHECKPOINTS", str(folder))
    assert main(["models"]) == 0
    lines = {line[2:].split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "qualities 1..8" in lines["tiny"]
    assert "[unreadable: not a release of this codec (" in lines["damaged"] and "cut short" in lines["damaged"]
    assert "[unreadable: missing]" in lines["gone"]
    Image.fromarray(natural_image(40, 56)).save(tmp_path / "a.png")
    assert main(["compress", str(tmp_path / "a.png"), "--model", "damaged"]) == 2  # one line, no traceback
    err = capsys.readouterr().err
    assert "damaged.safetensors" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a.hvc").exists()


def test_never_overwrites_without_force(workdir, capsys):
    assert main(["compress", "a.png"]) == 0
    before = (workdir / "a.hvc").read_bytes()
    assert main(["compress", "a.png", "-q", "7"]) == 2
    assert "exists" in capsys.readouterr().err
    assert (workdir / "a.hvc").read_bytes() == before
    assert main(["compress", "a.png", "-q", "7", "--force"]) == 0
    assert (workdir / "a.hvc").read_bytes() != before


def test_default_decompress_name_and_no_leftovers(workdir):
    assert main(["compress", "a.png", "-o", "x.hvc"]) == 0
    assert main(["decompress", "x.hvc"]) == 0
    assert (workdir / "x.decoded.png").exists() and not (workdir / "x.png").exists()
    assert not [p for p in os.listdir(workdir) if p.endswith(".tmp")]


def test_outputs_get_the_usual_file_mode(workdir):
    """Written through a private temporary file, but not left private (0600)."""
    old = os.umask(0o022)
    try:
        assert main(["compress", "a.png", "-o", "m.hvc"]) == 0
        assert main(["decompress", "m.hvc", "-o", "m.png"]) == 0
    finally:
        os.umask(old)
    assert (workdir / "m.hvc").stat().st_mode & 0o777 == 0o644
    assert (workdir / "m.png").stat().st_mode & 0o777 == 0o644


def test_folder_and_several_inputs(workdir):
    assert main(["compress", str(workdir), "-o", "out"]) == 0
    assert sorted(os.listdir("out")) == ["a.hvc", "b.hvc"]
    assert main(["decompress", "out", "-o", "dec"]) == 0
    assert Image.open("dec/b.decoded.png").mode == "L"


@pytest.mark.parametrize("argv, code, message", [
    (["compress", "missing.png"], 2, "no such file"),
    (["decompress", "a.png"], 2, "bad magic"),
    (["frobnicate"], 1, "invalid choice"),
    (["compress"], 1, "required"),
    (["compress", "a.png", "-q", "99"], 2, "quality"),
    (["compress", "a.png", "-q", "x"], 1, "invalid float"),
    (["compress", "a.png", "--model", "nope"], 2, "unknown model"),
    (["decompress", "a.png", "--layers", "x"], 1, "invalid int"),
    (["compress", "a.png", "-q", "0", "-o", "a.png"], 2, "quality must be in"),  # not "a.png exists"
    (["compress", "a.png", "-e", "9"], 1, "invalid choice: 9"),
    (["compress", "a.png", "-o", "missing/dir/a.hvc"], 2, "no such folder missing/dir"),
])
def test_errors_are_one_line(workdir, capsys, argv, code, message):
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err


def test_decompress_into_a_missing_folder_is_one_line_and_writes_nothing(workdir, capsys):
    assert main(["compress", "a.png"]) == 0
    assert main(["decompress", "a.hvc", "-o", "missing/dir/x.png"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("no such folder missing/dir") and "exists" not in err and len(err.splitlines()) == 1
    assert not (workdir / "missing").exists()


def test_corrupt_file_exit_2(workdir, capsys):
    assert main(["compress", "a.png"]) == 0
    data = bytearray((workdir / "a.hvc").read_bytes())
    data[-5] ^= 0x10
    (workdir / "bad.hvc").write_bytes(bytes(data))
    assert main(["decompress", "bad.hvc"]) == 2
    assert "checksum" in capsys.readouterr().err
    assert not (workdir / "bad.png").exists()


def test_not_an_image(workdir, capsys):
    (workdir / "t.png").write_text("hello")
    assert main(["compress", "t.png"]) == 2
    assert "not an image" in capsys.readouterr().err


def test_pillow_s_bomb_warning_is_not_the_codec_s_limit(workdir, capsys, monkeypatch, recwarn):
    """Pillow warns above its MAX_IMAGE_PIXELS (89 MP), yet the codec codes up to 134 MP: no
    warning for a photo the codec takes; what Pillow refuses outright is one line, exit 2."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1500)  # a.png's 2240 pixels: a warning, not an error
    assert main(["compress", "a.png", "-q", "3"]) == 0
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]
    assert "Bomb" not in capsys.readouterr().err
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # over twice the limit: Pillow refuses
    assert main(["compress", "a.png", "-o", "a2.hvc"]) == 2
    err = capsys.readouterr().err
    assert "image too large" in err and len(err.strip().splitlines()) == 1
    assert not (workdir / "a2.hvc").exists()


def test_stdin_stdout_subprocess(workdir, use_tiny_checkpoints):
    env = {**os.environ, "CODEC_CHECKPOINTS": str(use_tiny_checkpoints)}
    png = (workdir / "a.png").read_bytes()
    enc = subprocess.run([sys.executable, "-m", "codec", "compress", "-", "-q", "2"], input=png,
                         capture_output=True, env=env, cwd=REPO, timeout=120)
    assert enc.returncode == 0, enc.stderr.decode()
    assert enc.stdout[:3] == b"HVC"
    dec = subprocess.run([sys.executable, "-m", "codec", "decompress", "-"], input=enc.stdout,
                         capture_output=True, env=env, cwd=REPO, timeout=120)
    assert dec.returncode == 0, dec.stderr.decode()
    assert Image.open(io.BytesIO(dec.stdout)).size == (56, 40)
    bad = subprocess.run([sys.executable, "-m", "codec", "decompress", "-"], input=b"garbage",
                         capture_output=True, env=env, cwd=REPO, timeout=120)
    assert bad.returncode == 2 and b"Traceback" not in bad.stderr

"""``import codec`` loads the inference path only: no training, no benchmark, no CompressAI."""
import subprocess
import sys

from conftest import REPO

CHILD = """
import sys
import codec
from PIL import Image
codec.Codec.random().compress(Image.new("RGB", (64, 64)))
print(" ".join(sorted(m for m in sys.modules
                      if m.split(".")[0] in ("bench", "compressai", "torchvision") or m.startswith("codec.training"))))
"""


def test_import_codec_loads_neither_training_nor_bench_nor_compressai():
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [], f"import codec (and a compress) loaded {out.stdout.split()}"


TORCH_FREE = """
import sys
from PIL import Image
import codec
from codec.cli import main
assert main(["--help"]) == 0 and main(["compress", "--help"]) == 0 and main(["decompress", "--help"]) == 0
assert main(["info", sys.argv[1]]) == 0
assert main(["models"]) == 0
im = Image.open(sys.argv[1])  # the Pillow plugin: size, mode and info before load()
assert im.format == "HVC" and im.size == (48, 40) and im.mode == "RGB" and im.info["layers"] == (3, 3)
print("LOADED:" + " ".join(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "compressai", "torchvision"))))
"""


def test_help_info_models_and_opening_a_file_do_not_import_torch(shipped_codec, tmp_path):
    """Importing torch is most of a command's start-up (about 2.5 s): the commands that need
    no model answer without it."""
    from conftest import natural_image

    path = tmp_path / "x.hvc"
    path.write_bytes(shipped_codec.compress(natural_image(40, 48)))
    out = subprocess.run([sys.executable, "-c", TORCH_FREE, str(path)], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = out.stdout.rsplit("LOADED:", 1)[1].split()
    assert loaded == [], f"loaded {loaded[:5]}"

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

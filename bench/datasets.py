"""Where the data sets live: ``../shared/data`` beside the repository (never inside it)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
KODAK = SHARED_DATA / "kodak"  # the 24 standard test images
HOLDOUT = SHARED_DATA / "holdout"  # a second test set
TRAIN = SHARED_DATA / "train"  # training only: never evaluate on it, never train on the others

"""Per-codec cache of per-image records, so a rerun computes only what changed.

One JSON-lines file per codec, ``<out>/cache/<codec>.jsonl``, one record a line, keyed by
sha256 of (RECORD_VERSION, codec name, codec settings, quality, sha256 of the image file). Settings include
library versions and model/basis identities, so upgrading a backend or retraining recomputes.
Lines are appended as results arrive: an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from bench.record import Record


# Bump when the bench changes how a record is measured (metrics, timing): every cache misses.
RECORD_VERSION = 1


def record_key(codec: str, settings: dict[str, Any], quality: float, image_sha256: str) -> str:
    text = json.dumps([RECORD_VERSION, codec, settings, float(quality), image_sha256], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class RecordCache:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.records: dict[str, Record] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self.records[entry["key"]] = Record.from_row(entry["record"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by an interrupted run

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __getitem__(self, key: str) -> Record:
        return self.records[key]

    def add(self, key: str, record: Record) -> None:
        record = record.without_pixels()
        self.records[key] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps({"key": key, "record": record.to_row()}) + "\n")

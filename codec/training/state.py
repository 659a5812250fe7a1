"""A run's folder: its checkpoint, snapshots and JSON-lines log.

The checkpoint is written through a temporary file and a rename, so a kill never leaves
half of one. A resumed run's log records past its checkpoint (logged by a killed run, redone
now) move to ``log.lost.jsonl``, so ``log.jsonl`` holds each step once, in order.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch


class RunFolder:
    def __init__(self, out: str | Path, main: bool = True):
        self.out = Path(out)
        self.main = main  # only the main process writes
        self.ckpt_path = self.out / "checkpoint.pt"
        self.log_path = self.out / "log.jsonl"

    def save(self, payload: dict) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = self.ckpt_path.with_suffix(".tmp")
        torch.save(payload, tmp)
        os.replace(tmp, self.ckpt_path)

    def snapshot(self, config_json: str, model_state: dict, step: int) -> None:
        """The weights at ``step`` in ``snapshots/`` (no optimizer: for analyses, not resuming)."""
        folder = self.out / "snapshots"
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"config": config_json, "model": model_state, "step": step}, folder / f"step_{step:07d}.pt")

    def log(self, record: dict) -> None:
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def set_aside_lost_log(self, step: int) -> None:
        """Move the log records past ``step`` to ``log.lost.jsonl``; nothing logged is thrown away."""
        path = self.log_path
        if not path.exists():
            return
        kept, lost = [], []
        for line in path.read_text().splitlines(keepends=True):
            try:
                past = json.loads(line).get("step", 0) > step
            except (ValueError, AttributeError):
                past = False  # not ours to judge: keep it where it is
            (lost if past else kept).append(line)
        if lost:
            with open(self.out / "log.lost.jsonl", "a") as f:
                f.writelines(lost)
            tmp = path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(kept))
            os.replace(tmp, path)  # a kill here leaves the old log whole, never half of it
            print(f"moved {len(lost)} log records past step {step} (not in the checkpoint) "
                  f"to {self.out / 'log.lost.jsonl'}", file=sys.stderr)

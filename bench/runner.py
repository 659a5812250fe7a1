"""Runs (codec, quality, image) tasks in this process or a process pool, with a progress bar.

Workers build their own codec instances from the registry (a learned model is loaded once
per worker, never pickled) and return records without pixels. With ``jobs > 1`` the
encode/decode timings of concurrent tasks disturb each other; use ``--jobs 1`` for timings.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any, Callable, Iterable

import numpy as np
from tqdm import tqdm

from bench import codecs as registry
from bench.images import ImageFile, load_rgb
from bench.record import Record


@dataclass(frozen=True)
class Task:
    codec: str
    quality: float
    image: ImageFile
    key: str
    options: dict[str, Any] = field(default_factory=dict, compare=False)


_CODECS: dict[str, registry.Codec] = {}


def _codec(name: str, options: dict[str, Any]) -> registry.Codec:
    key = name + json.dumps(options, sort_keys=True, default=str)
    if key not in _CODECS:
        codec = registry.create(name, options)
        # One untimed round trip, so lazy initialisation is not charged to the first image.
        warm = np.add.outer(np.arange(64), np.arange(64))[:, :, None].repeat(3, axis=2).astype(np.uint8)
        codec.decode(codec.encode(warm, codec.qualities[len(codec.qualities) // 2]))
        _CODECS[key] = codec
    return _CODECS[key]


def run_task(task: Task) -> Record:
    image = load_rgb(task.image.path)
    record = _codec(task.codec, task.options).run(image, task.quality, image_name=task.image.name)
    return record.without_pixels()


def limit_threads() -> None:
    # One thread per worker: N workers use N cores, and timings are not inflated by contention.
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def run_tasks(tasks: list[Task], jobs: int = 1, on_result: Callable[[Task, Record], None] | None = None,
              progress: bool = True) -> Iterable[tuple[Task, Record]]:
    """Yield (task, record) as they finish; ``on_result`` is called first (e.g. to cache)."""
    bar = tqdm(total=len(tasks), unit="img", disable=not progress or not tasks, dynamic_ncols=True)
    try:
        if jobs <= 1:
            for task in tasks:
                bar.set_description(f"{task.codec} q={task.quality:g}")
                record = run_task(task)
                if on_result:
                    on_result(task, record)
                bar.update()
                yield task, record
            return
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=limit_threads) as pool:
            futures = {pool.submit(run_task, t): t for t in tasks}
            for future in as_completed(futures):
                task = futures[future]
                record = future.result()
                if on_result:
                    on_result(task, record)
                bar.set_description(f"{task.codec} q={task.quality:g}")
                bar.update()
                yield task, record
    finally:
        bar.close()

"""Where a training process runs: device, threads, bf16, and data-parallel ranks.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the processes form a DDP group: NCCL on GPUs, gloo
on CPUs. Save and stop decisions are rank 0's, shared with every rank (:meth:`agree`), so
collective calls stay in step.
"""
from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as dist

from ..refine import fast_bf16


def use_bf16(choice: str, device: torch.device) -> bool:
    return choice == "on" if choice != "auto" else fast_bf16(device)


class Process:
    def __init__(self, threads: int = 0, bf16: str = "auto"):
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
        else:
            self.rank, self.world = 0, 1
        if torch.cuda.is_available():
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
            if threads:
                torch.set_num_threads(threads)
        self.bf16 = use_bf16(bf16, self.device)
        self.main = self.rank == 0

    def autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module to call for training steps (DDP-wrapped when distributed)."""
        if not self.distributed:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def agree(self, value: int) -> int:
        """Rank 0's decision, shared with every rank."""
        if not self.distributed:
            return value
        t = torch.tensor([value], device=self.device)
        dist.broadcast(t, src=0)
        return int(t.item())

    def gather(self, obj) -> list:
        """Every rank's ``obj`` (a collective call), or ``[obj]`` alone."""
        if not self.distributed:
            return [obj]
        gathered: list = [None] * self.world
        dist.all_gather_object(gathered, obj)
        return gathered

    def finish(self, together: bool) -> None:
        if self.distributed:
            if together:
                # Leave together: a rank that tears down gloo while rank 0 still writes
                # the checkpoint can make its peer abort (seen here: SIGABRT, 1 run in 6).
                dist.barrier()
            dist.destroy_process_group()

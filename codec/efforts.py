"""Effort levels: what each level of encode-time refinement does (:mod:`codec.refine`).

Apart from the refinement itself so that the command line can show them without importing torch.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Effort:
    """What one effort level does. ``steps`` Adam steps at ``lr`` (in quantization steps of each
    latent: the same move at every quality); the temperature holds at
    ``tau_start`` for the first ``hold`` share of the steps, then falls exponentially to
    ``tau_end``; the real coded loss is checked ``checks`` times, evenly (about 0.45 s each for
    768x512), the last at the end."""

    steps: int
    seconds: float  # typical encode time of a 768x512 image on 2 cores (measured, README)
    lr: float = 0.01
    tau_start: float = 0.5
    tau_end: float = 0.05
    hold: float = 0.3
    checks: int = 10

    @property
    def check_every(self) -> int:
        return max(1, self.steps // self.checks)

    def tau(self, step: int) -> float:
        start = self.hold * self.steps
        if step < start:
            return self.tau_start
        t = (step - start) / max(1.0, self.steps - start)
        return self.tau_start * (self.tau_end / self.tau_start) ** t


# Effort levels by number: 0 is the encoder as trained. See README for what each costs and buys.
# seconds: kodim23 (768x512) at quality 7 through Codec.compress on 2 idle cores, the levels in
# order in one process; level 1's time includes the warm-up of the bf16 kernels (about 4 s) that
# every fresh `codec compress -e N` pays once.
EFFORTS = (Effort(steps=0, seconds=0.4), Effort(steps=10, seconds=10), Effort(steps=30, seconds=16),
           Effort(steps=100, seconds=40), Effort(steps=300, seconds=110))
MAX_EFFORT = len(EFFORTS) - 1

"""Exploration schedules as pure functions of `t_env`.

A schedule has no state of its own: its value is recomputed from the environment step
counter, so a resumed run continues exactly where it stopped."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinearDecayThenFlat:
    """Goes linearly from `start` to `finish` over `duration` steps, then stays at `finish`."""

    start: float
    finish: float
    duration: int

    def __call__(self, t_env: int) -> float:
        if t_env >= self.duration:
            return self.finish
        return self.start + max(t_env, 0) / self.duration * (self.finish - self.start)

"""The learner protocol the training loop relies on."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class TrainOutput:
    """What one update reports: scalar stats to log and, for prioritised replay, new priorities."""

    stats: dict[str, float] = field(default_factory=dict)
    priorities: torch.Tensor | None = None


class Learner(ABC):
    """Owns the networks that are trained, their targets and optimisers.

    The loop calls `train` with whatever the configured replay's `sample` returns, and
    `state_dict`/`load_state_dict` for exact checkpoints (online and target networks,
    optimisers, counters). A learner with `lookahead = 1` is also shown each batch one update
    before it trains on it (`prepare`), to start slow work on it in the background; the loop
    closes the learner (`close`) when the run ends."""

    lookahead: int = 0

    @abstractmethod
    def train(self, batch: Any, t_env: int, episode_num: int) -> TrainOutput:
        ...

    @abstractmethod
    def state_dict(self) -> dict:
        ...

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        ...

    def prepare(self, batch: Any) -> None:
        """The batch that `train` receives next (only called when `lookahead` is 1)."""

    def close(self) -> None:
        """Releases processes or other resources the learner started."""

    def extra_scheme(self) -> dict:
        """Extra per-step fields this algorithm needs stored in episodes (see controllers' step_extras)."""
        return {}

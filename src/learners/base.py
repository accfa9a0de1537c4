"""The learner protocol the training loop relies on."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from config.schema import RunConfig


@dataclass
class TrainOutput:
    """What one update reports: scalar stats to log and, for prioritised replay, new priorities."""

    stats: dict[str, float] = field(default_factory=dict)
    priorities: torch.Tensor | None = None


class Learner(ABC):
    """Owns the networks that are trained, their targets and optimisers.

    The loop calls `train` with whatever the configured replay's `sample` returns, and
    `state_dict`/`load_state_dict` for exact checkpoints (online and target networks,
    optimisers, counters). A learner with `lookahead = L > 0` is shown the batches it will train
    on in groups of L, a group before the previous one starts training (`prepare`), to start slow
    work on them in the background; the loop closes the learner (`close`) when the run ends.

    Each learner names the `Config` schema of the keys it reads and the controllers (`mac`) and
    replays (`buffer`) it works with; any other combination is refused before a run starts."""

    Config: ClassVar[type[RunConfig]]
    controllers: ClassVar[tuple[str, ...]] = ()
    buffers: ClassVar[tuple[str, ...]] = ()
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

    def prepare(self, batches: list[Any]) -> None:
        """Batches that `train` receives later, in this order (only called when `lookahead` > 0)."""

    def held_out_stats(self, episodes: list[Any]) -> dict[str, float]:
        """Diagnostics on the test episodes (EpisodeBatches never stored in the replay), logged
        with a `test_` prefix after each evaluation."""
        return {}

    def close(self) -> None:
        """Releases processes or other resources the learner started."""

    def cuda(self) -> None:
        """Called once after construction when `use_cuda` is set; a learner that builds its
        networks on `args.device` has nothing left to move."""

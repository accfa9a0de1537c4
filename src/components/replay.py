"""Replay stores: what the training loop inserts rollouts into and samples updates from.

The loop only speaks this small protocol, so an algorithm picks its data handling with the
`buffer` config key instead of forking the loop: uniform whole-episode replay for value-based
methods, the latest rollout for on-policy methods, prioritised transitions for MAZero.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch

from components.episode_buffer import EpisodeBatch


class Replay(ABC):
    """Base protocol. `sample` returns whatever the paired learner's `train` consumes.

    Constructors take `(scheme, groups, args, preprocess)`."""

    @abstractmethod
    def insert_episode_batch(self, batch: EpisodeBatch) -> None:
        ...

    @abstractmethod
    def can_sample(self, batch_size: int) -> bool:
        ...

    @abstractmethod
    def sample(self, batch_size: int) -> Any:
        ...

    def update_priorities(self, sample: Any, priorities: torch.Tensor) -> None:
        """Only prioritised stores use the learner's new priorities."""

    def after_update(self) -> None:
        """Called once after the loop's updates for a rollout (on-policy stores drop their data)."""

    @abstractmethod
    def state_dict(self) -> dict:
        ...

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        ...


class EpisodeReplay(Replay):
    """Circular buffer of whole episodes, sampled uniformly without replacement (pymarl's ReplayBuffer)."""

    def __init__(self, scheme: dict, groups: dict[str, int], args: Any, preprocess: dict | None):
        device = "cpu" if args.buffer_cpu_only else args.device
        max_seq_length = args.env_info.episode_limit + 1
        self.storage = EpisodeBatch(scheme, groups, args.buffer_size, max_seq_length, preprocess=preprocess, device=device)
        self.buffer_size = args.buffer_size
        self.index = 0
        self.episodes_in_buffer = 0
        self.rng = np.random.default_rng(args.seed)

    def insert_episode_batch(self, batch: EpisodeBatch) -> None:
        n = batch.batch_size
        rows = (self.index + np.arange(n)) % self.buffer_size
        for key, value in batch.transition_data.items():
            self.storage.transition_data[key][torch.as_tensor(rows), : batch.max_seq_length] = value.to(self.storage.device)
        for key, value in batch.episode_data.items():
            self.storage.episode_data[key][torch.as_tensor(rows)] = value.to(self.storage.device)
        self.index = int((self.index + n) % self.buffer_size)
        self.episodes_in_buffer = min(self.buffer_size, self.episodes_in_buffer + n)

    def can_sample(self, batch_size: int) -> bool:
        return self.episodes_in_buffer >= batch_size

    def sample(self, batch_size: int) -> EpisodeBatch:
        rows = self.rng.choice(self.episodes_in_buffer, size=batch_size, replace=False)
        batch = self.storage[np.sort(rows)]
        return batch[:, : batch.max_t_filled()]

    def state_dict(self) -> dict:
        return {"storage": self.storage.state_dict(rows=self.episodes_in_buffer), "index": self.index,
                "episodes_in_buffer": self.episodes_in_buffer, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.storage.load_state_dict(state["storage"])
        self.index, self.episodes_in_buffer = state["index"], state["episodes_in_buffer"]
        self.rng.bit_generator.state = state["rng"]


class OnPolicyReplay(Replay):
    """Holds only the most recent rollout; it is consumed by the update that follows it."""

    def __init__(self, *_, **__):
        self.latest: EpisodeBatch | None = None

    def insert_episode_batch(self, batch: EpisodeBatch) -> None:
        self.latest = batch.clone()  # rollouts are collected under inference mode

    def can_sample(self, batch_size: int) -> bool:
        return self.latest is not None

    def sample(self, batch_size: int) -> EpisodeBatch:
        assert self.latest is not None
        return self.latest[:, : self.latest.max_t_filled()]

    def after_update(self) -> None:
        self.latest = None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        self.latest = None

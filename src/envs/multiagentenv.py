"""The one-environment interface every runner talks to (pymarl's MultiAgentEnv, typed, numpy out)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EnvInfo:
    """Static facts a runner needs to build its buffers (pymarl's `get_env_info` dict, typed)."""

    n_agents: int
    n_actions: int
    obs_shape: int
    state_shape: int
    episode_limit: int
    backend: str  # "smax", "sc2", "matrix", "gymma": which simulator produced the numbers
    noop_action: int | None  # the only action a dead agent may take, if the env has dead agents
    move_actions: tuple[int, ...] | None = None  # the movement actions of SMAC-like envs (RODE's role spaces use them)


class MultiAgentEnv(ABC):
    """One cooperative multi-agent environment with a shared team reward.

    Arrays are numpy and owned by the caller (copies, never read-only views):
    obs float32 [n_agents, obs_dim], state float32 [state_dim], avail int64 [n_agents, n_actions].
    `step` returns (reward, terminated, info); `info["episode_limit"] = True` marks a time-out
    that should be bootstrapped (only when the env is configured with `continuing_episode`).
    """

    @abstractmethod
    def reset(self, seed: int | None = None) -> None:
        """Starts an episode; `seed=None` continues the env's own random stream."""

    @abstractmethod
    def step(self, actions: np.ndarray) -> tuple[float, bool, dict[str, Any]]:
        """Applies int actions [n_agents]; returns (reward, terminated, info)."""

    @abstractmethod
    def get_obs(self) -> np.ndarray:
        """float32 [n_agents, obs_dim]."""

    @abstractmethod
    def get_state(self) -> np.ndarray:
        """float32 [state_dim]."""

    @abstractmethod
    def get_avail_actions(self) -> np.ndarray:
        """int64 [n_agents, n_actions] of 0/1."""

    @abstractmethod
    def get_env_info(self) -> EnvInfo:
        """Static shapes and limits."""

    def get_stats(self) -> dict[str, Any]:
        """Counters accumulated over episodes (battles won, time-outs, ...)."""
        return {}

    def close(self) -> None:
        """Releases external resources (a StarCraft II process, a render window)."""

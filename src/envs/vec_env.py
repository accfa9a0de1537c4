"""B environments stepped in lockstep: the interface the parallel runner talks to."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from envs.multiagentenv import EnvInfo, MultiAgentEnv
from envs.stats import merge_stats


def checked_step_inputs(actions: np.ndarray, active: np.ndarray, num_envs: int,
                        n_agents: int) -> tuple[np.ndarray, np.ndarray]:
    """The runner's actions [B, n_agents] and active mask [B] as arrays, shapes checked."""
    actions = np.asarray(actions)
    active = np.asarray(active, dtype=bool)
    expected = (num_envs, n_agents)
    if actions.shape != expected or active.shape != (num_envs,):
        raise ValueError(f"actions must be {expected} and active ({num_envs},); "
                         f"got {actions.shape} and {active.shape}")
    return actions, active


class VecEnv(ABC):
    """B environments with identical shapes.

    `step(actions, active)` touches only the envs with `active[b]`; the others keep their state,
    observations and masks exactly (the runner marks finished episodes inactive).
    Entries for inactive envs are 0 reward, not terminated, and an empty info dict.
    """

    num_envs: int

    @abstractmethod
    def reset(self, seeds: Sequence[int] | None = None) -> None:
        """Resets all B envs; `seeds=None` continues each env's own random stream."""

    @abstractmethod
    def step(
        self, actions: np.ndarray, active: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """actions int [B, n_agents], active bool [B] -> rewards float32 [B], terminated bool [B], infos."""

    @abstractmethod
    def get_obs(self) -> np.ndarray:
        """float32 [B, n_agents, obs_dim]."""

    @abstractmethod
    def get_state(self) -> np.ndarray:
        """float32 [B, state_dim]."""

    @abstractmethod
    def get_avail_actions(self) -> np.ndarray:
        """int64 [B, n_agents, n_actions]."""

    @abstractmethod
    def get_env_info(self) -> EnvInfo:
        """Static shapes and limits (identical for all B envs)."""

    def get_stats(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        """Releases external resources."""


class SerialVecEnv(VecEnv):
    """Steps a list of `MultiAgentEnv`s one after the other in this process.

    Good for cheap Python envs (matrix games, lbforaging, MPE); StarCraft II instances each run
    their own game process, so the serial loop still overlaps nothing but is simple and robust.
    """

    def __init__(self, envs: Sequence[MultiAgentEnv]) -> None:
        if not envs:
            raise ValueError("SerialVecEnv needs at least one environment")
        self.envs = list(envs)
        self.num_envs = len(self.envs)
        self._info = self.envs[0].get_env_info()
        for env in self.envs[1:]:
            if env.get_env_info() != self._info:
                raise ValueError("all environments of a SerialVecEnv must have the same EnvInfo")

    def reset(self, seeds: Sequence[int] | None = None) -> None:
        if seeds is not None and len(seeds) != self.num_envs:
            raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} environments")
        for b, env in enumerate(self.envs):
            env.reset(None if seeds is None else int(seeds[b]))

    def step(
        self, actions: np.ndarray, active: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
        actions, active = checked_step_inputs(actions, active, self.num_envs, self._info.n_agents)
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        terminated = np.zeros(self.num_envs, dtype=bool)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for b in np.flatnonzero(active):
            reward, term, info = self.envs[b].step(actions[b])
            rewards[b], terminated[b], infos[b] = reward, term, info
        return rewards, terminated, infos

    def get_obs(self) -> np.ndarray:
        return np.stack([env.get_obs() for env in self.envs])

    def get_state(self) -> np.ndarray:
        return np.stack([env.get_state() for env in self.envs])

    def get_avail_actions(self) -> np.ndarray:
        return np.stack([env.get_avail_actions() for env in self.envs])

    def get_env_info(self) -> EnvInfo:
        return self._info

    def get_stats(self) -> dict[str, Any]:
        return merge_stats(env.get_stats() for env in self.envs)

    def close(self) -> None:
        for env in self.envs:
            env.close()

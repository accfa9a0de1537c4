"""Adapters for pip-installable multi-agent envs: gymnasium (`lbforaging:...`, `rware:...`) and
pettingzoo parallel envs (`mpe2:simple_spread_v3`, any `module:name` whose module has `parallel_env`).

Conventions (as epymarl's gymma with a common reward):
- team reward = sum of the agents' rewards;
- observations are flattened to float32 and zero-padded to the longest agent observation;
- state = concatenation of the (padded) observations;
- n_actions is the largest agent action space; actions beyond an agent's own space are masked,
  and an env-provided `action_mask` (pettingzoo dict observations) is used when present;
- `time_limit` caps the episode; reaching it is a time-out (terminal, or `info["episode_limit"]`
  with `continuing_episode`). The env's own cap is set to `time_limit` unless `env_kwargs` set it:
  pettingzoo `max_cycles`, lbforaging `max_episode_steps`, rware `max_steps`.
"""
from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from envs.args import GymmaArgs
from envs.multiagentenv import EnvInfo, MultiAgentEnv


def _flat(obs: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(flattened float32 observation, action mask or None) of one agent."""
    if isinstance(obs, dict) and "observation" in obs:
        mask = obs.get("action_mask")
        return np.asarray(obs["observation"], dtype=np.float32).ravel(), None if mask is None else np.asarray(mask)
    return np.asarray(obs, dtype=np.float32).ravel(), None


def _pettingzoo_module(key: str) -> Any | None:
    """The module behind a `module:name` key if it is a pettingzoo env family, else None."""
    module, _, name = key.partition(":")
    try:
        mod = importlib.import_module(f"{module}.{name}")
    except ImportError:
        return None
    return mod if hasattr(mod, "parallel_env") else None


def _make_gymnasium(args: GymmaArgs) -> Any:
    """gymnasium.make with the env's own step cap (lbforaging `max_episode_steps`, rware
    `max_steps`) set to `time_limit`, so that it neither ends episodes early nor runs past ours."""
    import dataclasses

    import gymnasium

    module, _, env_id = args.key.partition(":")
    importlib.import_module(module)  # registers the module's env ids
    spec = gymnasium.spec(env_id)
    kwargs = dict(spec.kwargs)
    for cap in ("max_episode_steps", "max_steps"):
        if cap in kwargs:
            kwargs[cap] = args.time_limit
    kwargs.update(args.env_kwargs)
    return gymnasium.make(dataclasses.replace(spec, kwargs=kwargs), disable_env_checker=True)


class GymmaEnv(MultiAgentEnv):
    """One gymnasium or pettingzoo-parallel multi-agent env behind our interface."""

    def __init__(self, args: GymmaArgs, seed: int) -> None:
        self._limit = args.time_limit
        self._continuing = args.continuing_episode
        self._next_seed: int | None = seed
        pz = _pettingzoo_module(args.key)
        if pz is not None:
            kwargs = {"max_cycles": args.time_limit, **args.env_kwargs}
            self._pz = pz.parallel_env(**kwargs)
            self._agents: list[Any] = list(self._pz.possible_agents)
            sizes = [int(self._pz.action_space(a).n) for a in self._agents]
        else:
            self._pz = None
            self._gym = _make_gymnasium(args)
            self._agents = list(range(len(self._gym.action_space)))
            sizes = [int(space.n) for space in self._gym.action_space]
        self._n = len(self._agents)
        self._n_actions = max(sizes)
        self._space_mask = np.zeros((self._n, self._n_actions), dtype=np.int64)
        for i, size in enumerate(sizes):
            self._space_mask[i, :size] = 1
        self._t = 0
        self._episodes = 0
        self._timeouts = 0
        self._store(self._reset_raw(seed))
        self._obs_dim = max(len(o) for o in self._raw_obs)
        self._info = EnvInfo(
            n_agents=self._n,
            n_actions=self._n_actions,
            obs_shape=self._obs_dim,
            state_shape=self._obs_dim * self._n,
            episode_limit=self._limit,
            backend="gymma",
            noop_action=None,
        )
        self._next_seed = None  # the construction reset consumed the seed

    def _reset_raw(self, seed: int | None) -> list[Any]:
        if self._pz is not None:
            obs, _ = self._pz.reset(seed=seed)
            return [obs.get(a) for a in self._agents]
        obs, _ = self._gym.reset(seed=seed)
        return list(obs)

    def _store(self, raw: list[Any]) -> None:
        """Keeps the flattened observations and the action masks of the current step."""
        self._raw_obs: list[np.ndarray] = []
        self._avail = self._space_mask.copy()
        for i, obs in enumerate(raw):
            if obs is None:  # a pettingzoo agent that has left the episode
                self._raw_obs.append(np.zeros(getattr(self, "_obs_dim", 0), dtype=np.float32))
                continue
            flat, mask = _flat(obs)
            self._raw_obs.append(flat)
            if mask is not None:
                self._avail[i, : len(mask)] &= mask.astype(np.int64)

    def reset(self, seed: int | None = None) -> None:
        self._t = 0
        self._store(self._reset_raw(seed))

    def step(self, actions: np.ndarray) -> tuple[float, bool, dict[str, Any]]:
        acts = [int(a) for a in np.asarray(actions)]
        if len(acts) != self._n:
            raise ValueError(f"expected {self._n} actions, got {len(acts)}")
        self._t += 1
        if self._pz is not None:
            live = set(self._pz.agents)
            obs, rewards, terms, truncs, _ = self._pz.step({a: acts[i] for i, a in enumerate(self._agents) if a in live})
            reward = float(sum(rewards.values()))
            ended = all(terms.get(a, True) or truncs.get(a, True) for a in self._agents) or not self._pz.agents
            cut = any(truncs.values()) and not all(terms.values())
            self._store([obs.get(a) for a in self._agents])
        else:
            obs, rewards, done, trunc, _ = self._gym.step(tuple(acts))
            reward = float(np.sum(rewards))
            ended = bool(np.all(done)) or bool(np.all(trunc))
            cut = bool(np.all(trunc)) and not bool(np.all(done))
            self._store(list(obs))
        timeout = self._t >= self._limit or cut
        terminated = ended or timeout
        info: dict[str, Any] = {}
        if terminated:
            self._episodes += 1
            self._timeouts += int(timeout)
            if timeout and self._continuing:
                info["episode_limit"] = True
        return reward, terminated, info

    def get_obs(self) -> np.ndarray:
        out = np.zeros((self._n, self._obs_dim), dtype=np.float32)
        for i, obs in enumerate(self._raw_obs):
            out[i, : len(obs)] = obs
        return out

    def get_state(self) -> np.ndarray:
        return self.get_obs().reshape(-1)

    def get_avail_actions(self) -> np.ndarray:
        return self._avail.copy()

    def get_env_info(self) -> EnvInfo:
        return self._info

    def get_stats(self) -> dict[str, Any]:
        return {"episodes": self._episodes, "timeouts": self._timeouts}

    def close(self) -> None:
        (self._pz if self._pz is not None else self._gym).close()

"""Repeated cooperative matrix games (MAZero's `config/matrix`): 2 agents, 3 actions, fixed horizon.

Reward per step is `payoff[a0, a1]` (agent 0 picks the row). Differences from the reference:
- Observation (and state) is the one-hot of the step counter t over `episode_limit + 1` slots, so a
  learner can tell every step apart (the reference used the raw `[t, t]`).
- The tie-order trap is removed: with `shuffle_actions` each agent's action labels are permuted by
  a permutation drawn from `permutation_seed` (default: the env's seed). The permutation is fixed
  for the env instance, so a learner can learn it, but favouring action index 0 does not find
  the optimum. `payoff` is the table in the agents' (permuted) labels.
- The horizon end is a time-out: terminal by default, `info["episode_limit"]` with `continuing_episode`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from envs.args import MatrixArgs
from envs.multiagentenv import EnvInfo, MultiAgentEnv

PAYOFFS: dict[str, tuple[tuple[float, ...], ...]] = {
    "matgame1": ((8, -12, -12), (-12, 0, 0), (-12, 0, 0)),
    "matgame2": ((0, 0, -12), (0, 0, -12), (-12, -12, 8)),
    "matgame3": ((10, -10, -10), (-10, 9, 0), (-10, 0, 9)),
    "matgame4": ((2, 6, 10), (2, 4, 9), (1, 2, 3)),
}
N_AGENTS, N_ACTIONS = 2, 3


def safe_joint_action(payoff: np.ndarray) -> tuple[int, int]:
    """Each agent's best response to a uniformly random partner (what marginal / monotonic learners
    converge to); ties between such actions are resolved in favour of the best joint payoff."""
    rows = np.flatnonzero(np.isclose(payoff.mean(axis=1), payoff.mean(axis=1).max()))
    cols = np.flatnonzero(np.isclose(payoff.mean(axis=0), payoff.mean(axis=0).max()))
    sub = payoff[np.ix_(rows, cols)]
    r, c = np.unravel_index(int(np.argmax(sub)), sub.shape)
    return int(rows[r]), int(cols[c])


class MatrixGameEnv(MultiAgentEnv):
    """One repeated matrix game; the only randomness is the action relabelling, fixed at construction."""

    def __init__(self, args: MatrixArgs, seed: int) -> None:
        base = np.asarray(PAYOFFS[args.map_name], dtype=np.float32)
        if args.shuffle_actions:
            perm_seed = seed if args.permutation_seed is None else args.permutation_seed
            rng = np.random.default_rng(int(perm_seed) % 2**63)
            self.permutations = np.stack([rng.permutation(N_ACTIONS) for _ in range(N_AGENTS)])
        else:
            self.permutations = np.tile(np.arange(N_ACTIONS), (N_AGENTS, 1))
        # Label i of agent k means original action permutations[k, i].
        self.payoff = base[np.ix_(self.permutations[0], self.permutations[1])]
        self.map_name = args.map_name
        self._limit = args.episode_limit
        self._continuing = args.continuing_episode
        self.optimal_return = float(self.payoff.max()) * self._limit
        self.safe_return = float(self.payoff[safe_joint_action(self.payoff)]) * self._limit
        self._info = EnvInfo(
            n_agents=N_AGENTS,
            n_actions=N_ACTIONS,
            obs_shape=self._limit + 1,
            state_shape=self._limit + 1,
            episode_limit=self._limit,
            backend="matrix",
            noop_action=None,
        )
        self._t = 0
        self._episodes = 0

    def reset(self, seed: int | None = None) -> None:
        self._t = 0

    def step(self, actions: np.ndarray) -> tuple[float, bool, dict[str, Any]]:
        a = np.asarray(actions, dtype=np.int64)
        if a.shape != (N_AGENTS,) or np.any((a < 0) | (a >= N_ACTIONS)):
            raise ValueError(f"actions must be {N_AGENTS} ints in [0, {N_ACTIONS}); got {actions!r}")
        if self._t >= self._limit:
            raise RuntimeError("step() after the episode ended; call reset()")
        reward = float(self.payoff[a[0], a[1]])
        self._t += 1
        terminated = self._t >= self._limit
        info: dict[str, Any] = {}
        if terminated:
            self._episodes += 1
            if self._continuing:
                info["episode_limit"] = True
        return reward, terminated, info

    def get_obs(self) -> np.ndarray:
        return np.tile(self.get_state(), (N_AGENTS, 1))

    def get_state(self) -> np.ndarray:
        state = np.zeros(self._limit + 1, dtype=np.float32)
        state[self._t] = 1.0
        return state

    def get_avail_actions(self) -> np.ndarray:
        return np.ones((N_AGENTS, N_ACTIONS), dtype=np.int64)

    def get_env_info(self) -> EnvInfo:
        return self._info

    def get_stats(self) -> dict[str, Any]:
        return {"episodes": self._episodes, "optimal_return": self.optimal_return, "safe_return": self.safe_return}

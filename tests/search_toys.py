"""Small deterministic models and a brute-force OS(lambda) used by the search tests (no tests here)."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from torch import Tensor

from search import ModelOutput


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP barriers stalling on a shared 2-core box."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class LinearToyModel:
    """A random linear-tanh model: cheap, deterministic, with agent interaction through the mean."""

    def __init__(self, n_agents: int, n_actions: int, obs_dim: int = 5, hidden: int = 8, seed: int = 0,
                 reward_scale: float = 1.0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.n_actions = n_actions
        self.w_obs = torch.randn(obs_dim, hidden, generator=g) / math.sqrt(obs_dim)
        self.w_state = torch.randn(hidden, hidden, generator=g) / math.sqrt(hidden)
        self.w_mix = torch.randn(hidden, hidden, generator=g) / math.sqrt(hidden)
        self.w_action = torch.randn(n_actions, hidden, generator=g)
        self.w_policy = torch.randn(hidden, n_actions, generator=g) * 2.0
        self.w_value = torch.randn(hidden, generator=g)
        self.w_reward = torch.randn(hidden, generator=g)
        self.reward_scale = reward_scale
        self.calls = 0

    def to(self, device: torch.device | str) -> LinearToyModel:
        for name in ("w_obs", "w_state", "w_mix", "w_action", "w_policy", "w_value", "w_reward"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def _heads(self, latent: Tensor, reward: Tensor | None) -> ModelOutput:
        pooled = latent.mean(1)
        return ModelOutput(latent, reward, pooled @ self.w_value, latent @ self.w_policy)

    def initial_inference(self, obs: Tensor, agent_mask: Tensor) -> ModelOutput:
        return self._heads(torch.tanh(obs @ self.w_obs), None)

    def recurrent_inference(self, latent: Tensor, joint_action: Tensor, agent_mask: Tensor) -> ModelOutput:
        self.calls += 1
        mixed = latent.mean(1, keepdim=True) @ self.w_mix
        nxt = torch.tanh(latent @ self.w_state + self.w_action[joint_action] + mixed)
        reward = self.reward_scale * torch.tanh(nxt.mean(1) @ self.w_reward)
        return self._heads(nxt, reward)


def brute_force_values(tree, batch_index: int, rho: float, lam: float, gamma: float) -> list[float]:
    """Eqs. 5-7 recomputed from the stored parent/reward/pred_value arrays, in float64 Python."""
    parent = tree.parent[batch_index].tolist()
    reward = tree.reward[batch_index].double().tolist()
    value = tree.pred_value[batch_index].double().tolist()
    n = len(parent)
    keep = 1 - Fraction(str(rho))
    out = []
    for u in range(n):
        groups: dict[int, list[float]] = {}
        for w in range(n):
            path, x = [], w
            while x != -1 and x != u:
                path.append(x)
                x = parent[x]
            if x != u:
                continue
            path.reverse()                          # nodes below u down to w
            ret = 0.0
            for k, node in enumerate(path):
                ret += gamma**k * reward[node]
            ret += gamma ** len(path) * value[w]
            groups.setdefault(len(path), []).append(ret)
        num = den = 0.0
        for d, vals in groups.items():
            size = max(1, math.ceil(keep * len(vals)))
            top = sorted(vals, reverse=True)[:size]
            weight = lam**d
            num += weight * sum(top)
            den += weight * size
        out.append(num / den)
    return out

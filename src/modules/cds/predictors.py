"""The two forward models of CDS's intrinsic reward: p(o'_i | tau_i, a_i) without the agent's
identity and q(o'_i | tau_i, a_i, i) with it.

Both are Gaussians of fixed variance, so a log-likelihood is minus the squared error (averaged
over observation features). Their gap measures how much the identity tells about what an agent
does: the mutual information CDS rewards. They train on their own Adam optimiser in shuffled
minibatches, and the reward reads slowly refreshed target copies."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn


def mlp(in_dim: int, out_dim: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, out_dim))


def gaussian_log_prob(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log N(target; prediction, I) up to a constant, per sample: [..., D] -> [...]."""
    return -(prediction - target).pow(2).mean(dim=-1)


class TransitionPredictors(nn.Module):
    """inputs [..., F] (hidden state, observation, action one-hot), ids [..., N] one-hot, next obs [..., D]."""

    def __init__(self, input_dim: int, n_agents: int, obs_dim: int, hidden: int, lr: float):
        super().__init__()
        self.without_id = mlp(input_dim, obs_dim, hidden)
        self.with_id = mlp(input_dim + n_agents, obs_dim, hidden)
        self.target_without_id = copy.deepcopy(self.without_id)
        self.target_with_id = copy.deepcopy(self.with_id)
        self.optimiser = torch.optim.Adam(list(self.without_id.parameters()) + list(self.with_id.parameters()), lr=lr)

    def target_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.target_without_id, self.without_id), (self.target_with_id, self.with_id)]

    @torch.no_grad()
    def log_probs(self, inputs: torch.Tensor, ids: torch.Tensor, next_obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log q(o'|tau, a, id), log p(o'|tau, a)) from the target copies, each [...]."""
        log_q = gaussian_log_prob(self.target_with_id(torch.cat([inputs, ids], dim=-1)), next_obs)
        log_p = gaussian_log_prob(self.target_without_id(inputs), next_obs)
        return log_q, log_p

    def fit(self, inputs: torch.Tensor, ids: torch.Tensor, next_obs: torch.Tensor, batch_size: int,
            generator: torch.Generator) -> float:
        """One shuffled pass over the samples [M, ...] in minibatches; returns the mean loss."""
        order = torch.randperm(inputs.shape[0], generator=generator).to(inputs.device)
        losses = []
        for start in range(0, inputs.shape[0], batch_size):
            rows = order[start:start + batch_size]
            x, target = inputs[rows], next_obs[rows]
            loss = -(gaussian_log_prob(self.without_id(x), target).mean()
                     + gaussian_log_prob(self.with_id(torch.cat([x, ids[rows]], dim=-1)), target).mean())
            self.optimiser.zero_grad(set_to_none=True)
            loss.backward()
            self.optimiser.step()
            losses.append(loss.item())
        return sum(losses) / max(len(losses), 1)

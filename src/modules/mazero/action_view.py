"""The action space MAZero's model plans in: factored per agent, or flattened joint actions."""
from __future__ import annotations

import itertools

import torch
from torch import Tensor


class ActionView:
    """Translates between the environment's per-agent actions and the model's action space.

    Factored (MAZero): the model plans over N agents with A actions each. Flat (the paper's
    Figure 6 ablation): one agent whose actions are the A^N joint actions."""

    def __init__(self, n_agents: int, n_actions: int, flat: bool):
        self.env_agents, self.env_actions, self.flat = n_agents, n_actions, flat
        self.model_agents = 1 if flat else n_agents
        self.model_actions = n_actions**n_agents if flat else n_actions
        if flat:
            self._digits = torch.tensor(list(itertools.product(range(n_actions), repeat=n_agents)), dtype=torch.long)
            self._place = n_actions ** torch.arange(n_agents - 1, -1, -1)

    def inputs(self, per_agent: Tensor) -> Tensor:
        """[..., N, D] -> [..., N_model, D_model]."""
        return per_agent.flatten(-2).unsqueeze(-2) if self.flat else per_agent

    def avail(self, avail: Tensor) -> Tensor:
        """[..., N, A] -> [..., N_model, A_model]: a joint action is available iff every part is."""
        if not self.flat:
            return avail
        digits = self._digits.to(avail.device)  # [A^N, N]
        parts = avail.long().gather(-1, digits.T.expand(*avail.shape[:-1], -1))  # [..., N, A^N]
        return parts.prod(-2, keepdim=True)

    def mask(self, alive: Tensor) -> Tensor:
        """[..., N] -> [..., N_model]."""
        return alive.any(-1, keepdim=True) if self.flat else alive

    def to_model(self, actions: Tensor) -> Tensor:
        """Per-agent actions [..., N] -> model actions [..., N_model]."""
        if not self.flat:
            return actions
        return (actions.long() * self._place.to(actions.device)).sum(-1, keepdim=True)

    def to_env(self, model_actions: Tensor) -> Tensor:
        """Model actions [..., N_model] -> per-agent actions [..., N]."""
        if not self.flat:
            return model_actions
        return self._digits.to(model_actions.device)[model_actions.squeeze(-1)]

"""Action selectors: turn per-agent outputs [B, N, A] and availability masks into actions [B, N].

Every random choice uses the selector's own `torch.Generator` (on the CPU, so it is identical
on every device and can be checkpointed), and greedy choices break ties uniformly at random
among the available maximisers: no selector ever prefers low action indices.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch

from components.schedules import LinearDecayThenFlat


def _rows(mask: torch.Tensor) -> torch.Tensor:
    """Flattens [..., A] weights to rows and makes empty rows uniform so sampling never fails."""
    flat = mask.reshape(-1, mask.shape[-1]).float()
    empty = flat.sum(-1, keepdim=True) <= 0
    return torch.where(empty, torch.ones_like(flat), flat)


def sample_categorical(weights: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Samples one index per row of non-negative (unnormalised) weights [..., A] -> [...]."""
    picks = torch.multinomial(_rows(weights), 1, generator=generator)
    return picks.view(weights.shape[:-1])


def random_argmax(values: torch.Tensor, avail: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Argmax over available actions with ties broken uniformly at random."""
    masked = values.masked_fill(avail == 0, float("-inf"))
    best = (masked == masked.max(dim=-1, keepdim=True).values) & (avail != 0)
    return sample_categorical(best, generator)


def masked_policy(probs: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """Zeroes unavailable actions (a policy that was not masked before its softmax)."""
    return probs * (avail != 0)


class ActionSelector(ABC):
    """Base class: owns the CPU generator and the current exploration rate (`epsilon`, logged)."""

    def __init__(self, args: Any):
        self.generator = torch.Generator().manual_seed(int(args.seed or 0) + 1)
        self.schedule = LinearDecayThenFlat(args.epsilon_start, args.epsilon_finish, args.epsilon_anneal_time)
        self.test_greedy = bool(args.test_greedy)
        self.evaluation_epsilon = float(args.evaluation_epsilon)
        self.epsilon = self.schedule(0)

    def select_action(self, agent_outputs: torch.Tensor, avail_actions: torch.Tensor, t_env: int,
                      test_mode: bool = False) -> torch.Tensor:
        outputs, avail = agent_outputs.detach().cpu(), avail_actions.cpu()
        return self._select(outputs, avail, t_env, test_mode)

    @abstractmethod
    def _select(self, outputs: torch.Tensor, avail: torch.Tensor, t_env: int, test_mode: bool) -> torch.Tensor:
        """Outputs and masks are on the CPU here."""


class EpsilonGreedySelector(ActionSelector):
    """Q-values in; with probability epsilon a uniformly random *available* action, else greedy."""

    def _select(self, outputs, avail, t_env, test_mode):
        self.epsilon = self.evaluation_epsilon if test_mode else self.schedule(t_env)
        return self._pick(outputs, avail, avail)

    def _pick(self, outputs: torch.Tensor, greedy_avail: torch.Tensor, random_avail: torch.Tensor) -> torch.Tensor:
        greedy = random_argmax(outputs, greedy_avail, self.generator)
        random_actions = sample_categorical(random_avail, self.generator)
        explore = torch.rand(greedy.shape, generator=self.generator) < self.epsilon
        return torch.where(explore, random_actions, greedy)


class SoftEpsilonGreedySelector(EpsilonGreedySelector):
    """RODE's `soft_epsilon_greedy`: the greedy action comes from the agent's role action space,
    the random one from *all* available actions, so the replay also holds off-role actions; the
    epsilon schedule starts again at `restart_step` (the clustering of the role action spaces) and
    then anneals over `epsilon_anneal_time_exp` (official `DecayThenFlatSchedule`)."""

    def __init__(self, args: Any):
        super().__init__(args)
        self.restart_schedule = LinearDecayThenFlat(args.epsilon_start, args.epsilon_finish,
                                                    getattr(args, "epsilon_anneal_time_exp", args.epsilon_anneal_time))

    def epsilon_at(self, t_env: int, restart_step: int | None) -> float:
        if restart_step is None:
            return self.schedule(t_env)
        return self.restart_schedule(t_env - restart_step)

    def select_in_role(self, outputs: torch.Tensor, avail: torch.Tensor, role_avail: torch.Tensor, t_env: int,
                       restart_step: int | None, test_mode: bool = False) -> torch.Tensor:
        """outputs [B, N, A]; `role_avail` is the role-restricted subset of `avail`."""
        self.epsilon = self.evaluation_epsilon if test_mode else self.epsilon_at(t_env, restart_step)
        return self._pick(outputs.detach().cpu(), role_avail.cpu(), avail.cpu())


class SoftPoliciesSelector(ActionSelector):
    """Probabilities in; samples the policy (greedy at test time when `test_greedy`)."""

    def _select(self, outputs, avail, t_env, test_mode):
        probs = masked_policy(outputs, avail)
        if test_mode and self.test_greedy:
            return random_argmax(probs, avail, self.generator)
        return sample_categorical(probs, self.generator)


class MultinomialSelector(ActionSelector):
    """Probabilities in; mixes in epsilon-uniform exploration over available actions (scheduled)."""

    def _select(self, outputs, avail, t_env, test_mode):
        probs = masked_policy(outputs, avail)
        if test_mode and self.test_greedy:
            return random_argmax(probs, avail, self.generator)
        self.epsilon = self.evaluation_epsilon if test_mode else self.schedule(t_env)
        uniform = (avail != 0).float() / (avail != 0).float().sum(-1, keepdim=True).clamp_min(1.0)
        norm = probs / probs.sum(-1, keepdim=True).clamp_min(1e-12)
        return sample_categorical((1.0 - self.epsilon) * norm + self.epsilon * uniform, self.generator)


REGISTRY: dict[str, type[ActionSelector]] = {
    "epsilon_greedy": EpsilonGreedySelector,
    "soft_epsilon_greedy": SoftEpsilonGreedySelector,
    "soft_policies": SoftPoliciesSelector,
    "multinomial": MultinomialSelector,
}

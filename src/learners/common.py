"""What every baseline learner does the same way: device placement, the per-transition view of a
batch (rewards, actions, terminal flags, valid mask, optional reward standardisation), the
target-network schedule and the counters that make checkpoints exact."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.nn as nn

from components.episode_buffer import EpisodeBatch
from learners.base import Learner
from learners.optim import clip_and_step
from learners.targets import (hard_update, initial_moments, masked_mean, standardise, update_moments, update_targets,
                              valid_transition_mask)


@dataclass
class Transitions:
    """The T transitions of a batch with T+1 slots: rewards/terminated/mask [B, T, 1], actions [B, T, N, 1]."""

    batch: EpisodeBatch
    rewards: torch.Tensor
    actions: torch.Tensor
    terminated: torch.Tensor
    mask: torch.Tensor


class BaselineLearner(Learner):
    """Shared plumbing; subclasses implement `train` and add their networks to the state."""

    def __init__(self, mac: Any, logger: Any, args: Any):
        self.args = args
        self.logger = logger
        self.device = torch.device(args.device)
        self.mac = mac.to(self.device)
        self.last_target_update_episode = 0
        self.reward_moments = initial_moments(self.device)
        self.train_steps = 0

    def _transitions(self, batch: EpisodeBatch) -> Transitions:
        """Moves the batch to the learner's device and standardises rewards when configured."""
        batch = batch.to(self.device) if batch.device != self.device else batch
        rewards = batch["reward"][:, :-1]
        mask = valid_transition_mask(batch["filled"], batch["terminated"])
        if self.args.standardise_rewards:
            self.reward_moments = update_moments(self.reward_moments, rewards, mask)
            rewards = standardise(rewards, self.reward_moments)
        return Transitions(batch, rewards, batch["actions"][:, :-1], batch["terminated"][:, :-1].float(), mask)

    def _update_targets(self, pairs: Iterable[tuple[nn.Module, nn.Module]], episode_num: int) -> None:
        args = self.args
        self.last_target_update_episode = update_targets(
            pairs, args.target_update, args.target_update_interval, args.target_update_tau,
            episode_num, self.last_target_update_episode)

    def _sync_targets(self, pairs: Iterable[tuple[nn.Module, nn.Module]], episode_num: int) -> None:
        """Copies every online network into its target now and restarts the target schedule."""
        for target, source in pairs:
            hard_update(target, source)
        self.last_target_update_episode = episode_num

    def _optimise(self, loss: torch.Tensor, optimiser: torch.optim.Optimizer, params: list[nn.Parameter],
                  pairs: Iterable[tuple[nn.Module, nn.Module]], episode_num: int,
                  clip_groups: list[list[nn.Parameter]] | None = None) -> float:
        """One gradient step on `loss` (clipped, per group if given), then the target schedule;
        returns the gradient norm."""
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_and_step(optimiser, params, self.args.grad_norm_clip, clip_groups)
        self.train_steps += 1
        self._update_targets(pairs, episode_num)
        return grad_norm

    def _counters_state(self) -> dict:
        return {"last_target_update_episode": self.last_target_update_episode,
                "reward_moments": self.reward_moments.clone(), "train_steps": self.train_steps}

    def _load_counters(self, state: dict) -> None:
        self.last_target_update_episode = state["last_target_update_episode"]
        self.reward_moments = state["reward_moments"].to(self.device)
        self.train_steps = state["train_steps"]


def td_stats(loss: torch.Tensor, grad_norm: float, td_error: torch.Tensor, q_taken: torch.Tensor,
             targets: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """The statistics every value-decomposition learner logs, under the same names."""
    return {
        "loss": loss.item(),
        "grad_norm": grad_norm,
        "td_error_abs": masked_mean(td_error.abs(), mask).item(),
        "q_taken_mean": masked_mean(q_taken, mask).item(),
        "target_mean": masked_mean(targets, mask).item(),
    }

"""IPPO / MAPPO: clipped PPO with a recurrent shared actor and a feed-forward critic.

One update (on the latest rollout): compute the behaviour policy's log-probabilities and the
target critic's values once, turn them into GAE advantages (or n-step returns) and critic
targets, then run `epochs` passes (each over `num_minibatches` random splits of the episodes) of
the clipped surrogate + entropy bonus for the actor and a (Huber) regression for the critic, and
refresh the target critic on schedule.
With `standardise_returns` the critic learns running-normalised returns (MAPPO's value
normalisation); with `active_masks` an agent's steps without a choice (a dead agent's no-op) are
left out of every loss and of the advantage statistics (MAPPO's active masks). The maths lives in
`learners.targets`.
"""
from __future__ import annotations

import copy
from typing import Any

import torch

from components.episode_buffer import EpisodeBatch
from config.policy_schema import PPOConfig
from learners.base import TrainOutput
from learners.common import BaselineLearner, Transitions
from learners.optim import clip_and_step, linear_decay, make_optimiser, set_lr
from learners.targets import (choice_mask, gae_advantages, gather_actions, initial_moments, masked_mean,
                              nstep_returns, policy_entropy, ppo_clip_loss, standardise, unstandardise,
                              update_moments, value_error)
from modules.critics import REGISTRY as critic_REGISTRY


def episode_minibatches(n_episodes: int, n_minibatches: int, device: torch.device) -> list[torch.Tensor]:
    """A fresh random split of the rollout's episodes into `n_minibatches` near-equal parts
    (whole episodes, so the recurrent actor unrolls from each episode's start); 1 = full batch."""
    if n_minibatches == 1:
        return [torch.arange(n_episodes, device=device)]
    if n_minibatches > n_episodes:
        raise ValueError(f"num_minibatches={n_minibatches} exceeds the {n_episodes} episodes of a rollout")
    return list(torch.randperm(n_episodes, device=device).tensor_split(n_minibatches))


class PPOLearner(BaselineLearner):
    Config = PPOConfig
    controllers = ("basic_mac",)
    buffers = ("on_policy",)

    def __init__(self, mac: Any, scheme: dict, logger: Any, args: PPOConfig):
        super().__init__(mac, logger, args)
        self.critic = critic_REGISTRY[args.critic_type](scheme, args).to(self.device)
        self.target_critic = copy.deepcopy(self.critic)
        self.agent_optimiser = make_optimiser(self.mac.parameters(), args)
        self.critic_optimiser = make_optimiser(self.critic.parameters(), args)
        self.return_moments = initial_moments(self.device)

    def _returns(self, tr: Transitions, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(critic targets, advantages), both [B, T, N], from unnormalised values [B, T+1, N]."""
        args = self.args
        if args.return_estimator == "gae":
            advantages = gae_advantages(tr.rewards, tr.terminated, tr.mask, values, args.gamma, args.gae_lambda)
            return advantages + values[:, :-1], advantages
        returns = nstep_returns(tr.rewards, tr.terminated, tr.mask, values, args.gamma, args.q_nstep)
        return returns, returns - values[:, :-1]

    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int) -> TrainOutput:
        args = self.args
        tr = self._transitions(batch)
        # Where the losses count: every valid step, or (active masks) only the agents with a choice.
        active = choice_mask(tr.batch["avail_actions"][:, :-1], tr.mask) if args.active_masks else tr.mask
        lr = linear_decay(args.lr, t_env, args.t_max) if args.lr_anneal else args.lr
        for optimiser in (self.agent_optimiser, self.critic_optimiser):
            set_lr(optimiser, lr)

        # Behaviour policy, value estimates and advantages, fixed for all epochs.
        with torch.no_grad():
            old_log_pi = torch.log(gather_actions(self.mac.unroll(tr.batch)[:, :-1], tr.actions).clamp_min(1e-10))
            values = self.target_critic(tr.batch)  # [B, T+1, N]
            if args.standardise_returns:
                values = unstandardise(values, self.return_moments)
            returns, advantages = self._returns(tr, values)
            if args.standardise_returns:
                self.return_moments = update_moments(self.return_moments, returns, active)
                returns = standardise(returns, self.return_moments)
            if args.standardise_advantages:
                advantages = standardise(advantages, update_moments(initial_moments(self.device), advantages, active))

        for _ in range(args.epochs):
            for rows in episode_minibatches(tr.batch.batch_size, args.num_minibatches, self.device):
                mask, episodes = active[rows], tr.batch[rows]
                pi = self.mac.unroll(episodes)[:, :-1]  # [b, T, N, A]
                log_pi = torch.log(gather_actions(pi, tr.actions[rows]).clamp_min(1e-10))
                ratio = torch.exp(log_pi - old_log_pi[rows])
                entropy = masked_mean(policy_entropy(pi), mask)
                surrogate = masked_mean(ppo_clip_loss(ratio, advantages[rows], args.eps_clip), mask)
                pg_loss = surrogate - args.entropy_coef * entropy

                values_now = self.critic(episodes)[:, :-1]
                critic_loss = masked_mean(value_error(values_now - returns[rows], args.huber_delta), mask)

                self.agent_optimiser.zero_grad(set_to_none=True)
                self.critic_optimiser.zero_grad(set_to_none=True)
                (pg_loss + args.value_loss_coef * critic_loss).backward()
                agent_grad_norm = clip_and_step(self.agent_optimiser, self.mac.parameters(), args.grad_norm_clip)
                critic_grad_norm = clip_and_step(self.critic_optimiser, self.critic.parameters(), args.grad_norm_clip)
        self.train_steps += 1

        self._update_targets([(self.target_critic, self.critic)], episode_num)

        stats = {
            "pg_loss": pg_loss.item(),
            "critic_loss": critic_loss.item(),
            "entropy": entropy.item(),
            "agent_grad_norm": agent_grad_norm,
            "critic_grad_norm": critic_grad_norm,
            "advantage_mean": masked_mean(advantages, active).item(),
            "target_mean": masked_mean(returns, active).item(),
            "approx_kl": masked_mean(old_log_pi[rows] - log_pi.detach(), mask).item(),
            "pi_max": masked_mean(pi.detach().max(dim=-1).values, mask).item(),
            "lr": lr,
        }
        return TrainOutput(stats=stats)

    def state_dict(self) -> dict:
        return {
            "mac": self.mac.state_dict(),
            "critic": self.critic.state_dict(),
            "target_critic": self.target_critic.state_dict(),
            "agent_optimiser": self.agent_optimiser.state_dict(),
            "critic_optimiser": self.critic_optimiser.state_dict(),
            "return_moments": self.return_moments.clone(),
            **self._counters_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.mac.load_state_dict(state["mac"])
        self.critic.load_state_dict(state["critic"])
        self.target_critic.load_state_dict(state["target_critic"])
        self.agent_optimiser.load_state_dict(state["agent_optimiser"])
        self.critic_optimiser.load_state_dict(state["critic_optimiser"])
        self.return_moments = state["return_moments"].to(self.device)
        self._load_counters(state)

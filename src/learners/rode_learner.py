"""RODE (Wang et al. 2021): learning roles to decompose multi-agent tasks.

One update: (1) until `role_action_spaces_update_start`, fit the action encoder (next
observation + reward prediction) and refresh the action representations; at that step, cluster
them once into role action spaces; (2) mix the per-step action values under the roles taken
(QMIX) and regress them on TD targets whose bootstrap actions respect the role-restricted
availability; (3) mix the role values at the decision steps (a second QMIX) and regress them on
targets over macro-transitions of `role_interval` steps with summed rewards. One optimiser step
on the sum trains both trunks (action and role selector), the role selector, the role policies
and both mixers; each loss reaches only its own trunk.
"""
from __future__ import annotations

import copy
from typing import Any

import torch

from components.episode_buffer import EpisodeBatch
from config.value_decomposition_schema import RODEConfig
from learners.base import TrainOutput
from learners.common import Transitions, td_stats
from learners.optim import clip_and_step, make_optimiser
from learners.q_learner import QLearner
from learners.targets import (bootstrap_actions, decision_slots, gather_actions, interval_transitions,
                              lambda_returns, masked_mean)
from modules.mixers import REGISTRY as mixer_REGISTRY


class RODELearner(QLearner):
    Config = RODEConfig
    controllers = ("rode_mac",)

    def __init__(self, mac: Any, scheme: dict, logger: Any, args: RODEConfig):
        super().__init__(mac, scheme, logger, args)
        self.role_mixer = mixer_REGISTRY[args.role_mixer](args).to(self.device)
        self.target_role_mixer = copy.deepcopy(self.role_mixer)
        self.params = list(self.mac.parameters()) + list(self.mixer.parameters()) + list(self.role_mixer.parameters())
        self.optimiser = make_optimiser(self.params, args)
        self.encoder_optimiser = make_optimiser(self.mac.encoder.parameters(), args)

    def _network_pairs(self) -> list[tuple[torch.nn.Module, torch.nn.Module]]:
        return super()._network_pairs() + [(self.target_mac.roles_net, self.mac.roles_net),
                                           (self.target_role_mixer, self.role_mixer)]

    def _clip_groups(self) -> list[list[torch.nn.Parameter]] | None:
        """`clip_per_level` (not official): the action level (agent trunk, role policies, mixer) and
        the role level (selector trunk and head, role mixer) get their own gradient-norm clip."""
        if not self.args.clip_per_level:
            return None
        nets = self.mac.roles_net
        role_level = [*nets.selector_trunk.parameters(), *nets.selector.parameters(), *self.role_mixer.parameters()]
        role_ids = {id(p) for p in role_level}
        return [[p for p in self.params if id(p) not in role_ids], role_level]

    def _fit_action_encoder(self, tr: Transitions) -> dict[str, float]:
        """One step of the action-effect model; returns its losses."""
        obs = tr.batch["obs"]
        pred_obs, pred_reward = self.mac.encoder(obs[:, :-1], tr.batch["actions_onehot"][:, :-1])
        obs_loss = masked_mean((pred_obs - obs[:, 1:]).pow(2).mean(dim=-1), tr.mask)
        reward_loss = masked_mean((pred_reward.squeeze(-1) - tr.rewards).pow(2), tr.mask)
        self.encoder_optimiser.zero_grad(set_to_none=True)
        (obs_loss + self.args.reward_prediction_coef * reward_loss).backward()
        clip_and_step(self.encoder_optimiser, self.mac.encoder.parameters(), self.args.grad_norm_clip)
        self.mac.refresh_action_repr()
        return {"encoder_obs_loss": obs_loss.item(), "encoder_reward_loss": reward_loss.item()}

    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int) -> TrainOutput:
        args, k = self.args, self.args.role_interval
        tr = self._transitions(batch)
        states, written = tr.batch["state"], tr.batch["role_avail_actions"]
        role_avail = torch.where(written.sum(-1, keepdim=True) > 0, written, tr.batch["avail_actions"])

        # 1. Action representations: learned first, then clustered once into role action spaces.
        extra: dict[str, float] = {}
        if not self.mac.clustered and t_env < args.role_action_spaces_update_start:
            extra = self._fit_action_encoder(tr)
        elif not self.mac.clustered:  # every target starts from the clustered networks (official)
            self.mac.cluster_actions(t_env, args.kmeans_iters)
            self._sync_targets(self._network_pairs(), episode_num)

        # 2. Action values under the roles taken, mixed per step.
        action_qs, role_qs = self.mac.unroll_roles(tr.batch)  # [B, T+1, N, A], [B, T+1, N, R]
        q_taken = self.mixer(gather_actions(action_qs[:, :-1], tr.actions), states[:, :-1])

        # 3. Role values at the decision steps 0, k, 2k, ..., mixed per macro-transition.
        role_rewards, role_terminated, role_mask = interval_transitions(tr.rewards, tr.terminated, tr.mask, k)
        n_macro = role_rewards.shape[1]
        role_states = decision_slots(states, k, n_macro)
        online_role_qs = decision_slots(role_qs, k, n_macro)
        roles_taken = decision_slots(tr.batch["roles"], k, n_macro)[:, :-1]
        role_q_taken = self.role_mixer(gather_actions(online_role_qs[:, :-1], roles_taken), role_states[:, :-1])

        # Targets: double Q within the role-restricted actions, and over all roles.
        with torch.no_grad():
            target_action_qs, target_role_qs = self.target_mac.unroll_roles(tr.batch)
            next_actions = bootstrap_actions(action_qs, target_action_qs, role_avail, args.double_q)
            target_vals = self.target_mixer(gather_actions(target_action_qs, next_actions), states)
            targets = lambda_returns(tr.rewards, tr.terminated, tr.mask, target_vals, args.gamma, args.td_lambda)
            target_role_qs = decision_slots(target_role_qs, k, n_macro)
            role_choice = self.mac.role_mask().to(target_role_qs.device).expand_as(target_role_qs)
            next_roles = bootstrap_actions(online_role_qs, target_role_qs, role_choice, args.double_q)
            role_target_vals = self.target_role_mixer(gather_actions(target_role_qs, next_roles), role_states)
            role_targets = lambda_returns(role_rewards, role_terminated, role_mask, role_target_vals,
                                          args.gamma, args.td_lambda)

        td_error = q_taken - targets
        role_td_error = role_q_taken - role_targets
        action_loss = masked_mean(td_error.pow(2), tr.mask)
        role_loss = masked_mean(role_td_error.pow(2), role_mask)
        loss = action_loss + role_loss
        grad_norm = self._optimise(loss, self.optimiser, self.params, self._network_pairs(), episode_num,
                                   self._clip_groups())

        stats = td_stats(loss, grad_norm, td_error, q_taken, targets, tr.mask)
        stats.update(extra, action_loss=action_loss.item(), role_loss=role_loss.item(),
                     role_td_error_abs=masked_mean(role_td_error.abs(), role_mask).item(),
                     n_clustered_roles=float(self.mac.roles_net.spaces.unique(dim=0).shape[0]))
        return TrainOutput(stats=stats)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "role_mixer": self.role_mixer.state_dict(),
                "target_role_mixer": self.target_role_mixer.state_dict(),
                "encoder_optimiser": self.encoder_optimiser.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.role_mixer.load_state_dict(state["role_mixer"])
        self.target_role_mixer.load_state_dict(state["target_role_mixer"])
        self.encoder_optimiser.load_state_dict(state["encoder_optimiser"])

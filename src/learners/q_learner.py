"""IQL / VDN / QMIX: recurrent Q-learning on whole episodes with an optional mixer.

One update: unroll the online and target controllers over the sampled episodes, pick the
bootstrap actions (double Q: online argmax, evaluated by the target net), mix per-agent values
into Q_tot, regress the taken Q_tot on TD(lambda) targets over valid transitions, and refresh
the target networks on the configured schedule. The maths lives in `learners.targets`.
"""
from __future__ import annotations

import copy
from typing import Any

import torch

from components.episode_buffer import EpisodeBatch
from config.policy_schema import QLearnerConfig
from learners.base import TrainOutput
from learners.common import BaselineLearner
from learners.optim import clip_and_step, make_optimiser
from learners.targets import gather_actions, greedy_actions, lambda_returns, masked_mean
from modules.mixers import REGISTRY as mixer_REGISTRY


class QLearner(BaselineLearner):
    Config = QLearnerConfig

    def __init__(self, mac: Any, scheme: dict, logger: Any, args: QLearnerConfig):
        super().__init__(mac, logger, args)
        self.target_mac = copy.deepcopy(self.mac)
        self.mixer = mixer_REGISTRY[args.mixer](args).to(self.device) if args.mixer else None
        self.target_mixer = copy.deepcopy(self.mixer)
        self.params = list(self.mac.parameters()) + (list(self.mixer.parameters()) if self.mixer is not None else [])
        self.optimiser = make_optimiser(self.params, args)

    def _mix(self, mixer: torch.nn.Module | None, agent_qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """[B, T, N] per-agent values -> [B, T, 1] joint values (IQL keeps [B, T, N])."""
        return agent_qs if mixer is None else mixer(agent_qs, states)

    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int) -> TrainOutput:
        args = self.args
        tr = self._transitions(batch)
        states, avail = tr.batch["state"], tr.batch["avail_actions"]

        # Q_i(tau_i, a_i) for the actions taken, then Q_tot.
        mac_out = self.mac.unroll(tr.batch)  # [B, T+1, N, A]
        chosen_qs = gather_actions(mac_out[:, :-1], tr.actions)  # [B, T, N]
        q_taken = self._mix(self.mixer, chosen_qs, states[:, :-1])

        # Targets: double-Q bootstrap actions, target network values, TD(lambda).
        with torch.no_grad():
            target_out = self.target_mac.unroll(tr.batch)
            chooser = mac_out.detach() if args.double_q else target_out
            target_qs = gather_actions(target_out, greedy_actions(chooser, avail))  # [B, T+1, N]
            target_vals = self._mix(self.target_mixer, target_qs, states)
            targets = lambda_returns(tr.rewards, tr.terminated, tr.mask, target_vals, args.gamma, args.td_lambda)

        td_error = q_taken - targets
        loss = masked_mean(td_error.pow(2), tr.mask)

        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_and_step(self.optimiser, self.params, args.grad_norm_clip)
        self.train_steps += 1

        pairs = [(self.target_mac.agent, self.mac.agent)]
        if self.mixer is not None:
            pairs.append((self.target_mixer, self.mixer))
        self._update_targets(pairs, episode_num)

        stats = {
            "loss": loss.item(),
            "grad_norm": grad_norm,
            "td_error_abs": masked_mean(td_error.abs(), tr.mask).item(),
            "q_taken_mean": masked_mean(q_taken, tr.mask).item(),
            "target_mean": masked_mean(targets, tr.mask).item(),
        }
        return TrainOutput(stats=stats)

    def state_dict(self) -> dict:
        return {
            "mac": self.mac.state_dict(),
            "target_mac": self.target_mac.state_dict(),
            "mixer": self.mixer.state_dict() if self.mixer is not None else None,
            "target_mixer": self.target_mixer.state_dict() if self.mixer is not None else None,
            "optimiser": self.optimiser.state_dict(),
            **self._counters_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.mac.load_state_dict(state["mac"])
        self.target_mac.load_state_dict(state["target_mac"])
        if self.mixer is not None:
            self.mixer.load_state_dict(state["mixer"])
            self.target_mixer.load_state_dict(state["target_mixer"])
        self.optimiser.load_state_dict(state["optimiser"])
        self._load_counters(state)

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
from learners.common import BaselineLearner, td_stats
from learners.optim import make_optimiser
from learners.targets import bootstrap_actions, gather_actions, lambda_returns, masked_mean
from modules.mixers import REGISTRY as mixer_REGISTRY


class QLearner(BaselineLearner):
    Config = QLearnerConfig
    controllers = ("basic_mac",)
    buffers = ("episode",)

    def __init__(self, mac: Any, scheme: dict, logger: Any, args: QLearnerConfig):
        super().__init__(mac, logger, args)
        self.target_mac = copy.deepcopy(self.mac)
        self.mixer = mixer_REGISTRY[args.mixer](args).to(self.device) if args.mixer else None
        self.target_mixer = copy.deepcopy(self.mixer)
        self.params = list(self.mac.parameters()) + (list(self.mixer.parameters()) if self.mixer is not None else [])
        self.optimiser = make_optimiser(self.params, args)

    def _mix(self, mixer: torch.nn.Module | None, agent_out: torch.Tensor, actions: torch.Tensor,
             states: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        """Joint value of `actions` [B, T, N, 1] from per-agent outputs [B, T, N, A]: [B, T, 1]
        (IQL keeps [B, T, N]). Dueling mixers (QPLEX) override this to use the whole outputs."""
        chosen = gather_actions(agent_out, actions)
        return chosen if mixer is None else mixer(chosen, states)

    def _target_values(self, batch: EpisodeBatch, mac_out: torch.Tensor) -> torch.Tensor:
        """Target-network joint values of every slot at the bootstrap actions: [B, T+1, 1]."""
        avail = batch["avail_actions"]
        target_out = self.target_mac.unroll(batch)
        actions = bootstrap_actions(mac_out, target_out, avail, self.args.double_q)
        return self._mix(self.target_mixer, target_out, actions, batch["state"], avail)

    def _network_pairs(self) -> list[tuple[torch.nn.Module, torch.nn.Module]]:
        """(target, online) modules refreshed on the target schedule."""
        pairs = [(self.target_mac.agent, self.mac.agent)]
        if self.mixer is not None:
            pairs.append((self.target_mixer, self.mixer))
        return pairs

    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int) -> TrainOutput:
        args = self.args
        tr = self._transitions(batch)
        states, avail = tr.batch["state"], tr.batch["avail_actions"]

        # Q_i(tau_i, a_i) for the actions taken, mixed into Q_tot.
        mac_out = self.mac.unroll(tr.batch)  # [B, T+1, N, A]
        q_taken = self._mix(self.mixer, mac_out[:, :-1], tr.actions, states[:, :-1], avail[:, :-1])

        # Targets: double-Q bootstrap actions, target network values, TD(lambda).
        with torch.no_grad():
            target_vals = self._target_values(tr.batch, mac_out)
            targets = lambda_returns(tr.rewards, tr.terminated, tr.mask, target_vals, args.gamma, args.td_lambda)

        td_error = q_taken - targets
        loss = masked_mean(td_error.pow(2), tr.mask)
        grad_norm = self._optimise(loss, self.optimiser, self.params, self._network_pairs(), episode_num)
        return TrainOutput(stats=td_stats(loss, grad_norm, td_error, q_taken, targets, tr.mask))

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

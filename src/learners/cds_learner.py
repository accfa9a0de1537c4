"""CDS (Li et al. 2021): QPLEX with shared + individual agent heads and a diversity bonus.

One update: unroll the controller keeping its hidden states; mix the taken Q_i with the QPLEX
mixer; add beta * (the team's mean intrinsic reward) to the environment reward in the TD target;
add an L1 penalty on the individual Q components; then fit the two transition predictors that
the intrinsic reward reads (their targets follow the same schedule as the Q targets)."""
from __future__ import annotations

from typing import Any

import torch

from components.episode_buffer import EpisodeBatch
from config.value_decomposition_schema import CDSConfig
from learners.base import TrainOutput
from learners.common import td_stats
from learners.qplex_learner import QPLEXLearner
from learners.targets import lambda_returns, masked_mean
from modules.cds.intrinsic import anneal_factor, intrinsic_reward
from modules.cds.predictors import TransitionPredictors


def unroll_with_hidden(mac: Any, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """The controller's outputs [B, T, N, A] and hidden states [B, T, N, H] over whole episodes."""
    mac.init_hidden(batch.batch_size)
    outputs, hidden = [], []
    for t in range(batch.max_seq_length):
        outputs.append(mac.forward(batch, t))
        hidden.append(mac.hidden_states)
    return torch.stack(outputs, dim=1), torch.stack(hidden, dim=1)


class CDSLearner(QPLEXLearner):
    Config = CDSConfig

    def __init__(self, mac: Any, scheme: dict, logger: Any, args: CDSConfig):
        super().__init__(mac, scheme, logger, args)
        info = args.env_info
        self.predictors = TransitionPredictors(args.hidden_dim + info.obs_shape + info.n_actions, info.n_agents,
                                               info.obs_shape, args.predictor_hidden_dim, args.predictor_lr).to(self.device)
        self.generator = torch.Generator().manual_seed(int(args.seed or 0) + 7)

    def _network_pairs(self) -> list[tuple[torch.nn.Module, torch.nn.Module]]:
        return super()._network_pairs() + self.predictors.target_pairs()

    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int) -> TrainOutput:
        args = self.args
        tr = self._transitions(batch)
        states, avail, obs = tr.batch["state"], tr.batch["avail_actions"], tr.batch["obs"]

        # Q_i = shared + individual heads; Q_tot from the QPLEX mixer.
        mac_out, hidden = unroll_with_hidden(self.mac, tr.batch)  # [B, T+1, N, A], [B, T+1, N, H]
        q_taken = self._mix(self.mixer, mac_out[:, :-1], tr.actions, states[:, :-1], avail[:, :-1])

        # Intrinsic reward from (h_t, o_t, a_t) -> o_{t+1} predictors and the Q-value divergence.
        pred_inputs = torch.cat([hidden[:, :-1], obs[:, :-1], tr.batch["actions_onehot"][:, :-1]], dim=-1).detach()
        ids = torch.eye(self.mac.n_agents, device=self.device).expand(*pred_inputs.shape[:2], -1, -1)
        log_q, log_p = self.predictors.log_probs(pred_inputs, ids, obs[:, 1:])
        r_int = intrinsic_reward(log_q, log_p, mac_out[:, :-1].detach(), args.beta1, args.beta2)
        bonus = args.beta * anneal_factor(t_env, args.anneal_intrinsic, args.anneal_start, args.anneal_rate)

        # TD(lambda) targets on the augmented reward.
        with torch.no_grad():
            target_vals = self._target_values(tr.batch, mac_out)
            targets = lambda_returns(tr.rewards + bonus * r_int, tr.terminated, tr.mask, target_vals,
                                     args.gamma, args.td_lambda)

        td_error = q_taken - targets
        td_loss = masked_mean(td_error.pow(2), tr.mask)
        local_l1 = masked_mean(self.mac.agent.local_values(hidden[:, :-1]).abs().mean(dim=-1), tr.mask)
        loss = td_loss + args.local_q_l1_coef * local_l1
        grad_norm = self._optimise(loss, self.optimiser, self.params, self._network_pairs(), episode_num)

        # The predictors learn from the valid transitions of this batch.
        valid = tr.mask.squeeze(-1) > 0
        predictor_loss = self.predictors.fit(pred_inputs[valid].flatten(0, 1), ids[valid].flatten(0, 1),
                                             obs[:, 1:][valid].flatten(0, 1), args.predictor_batch_size, self.generator)

        stats = td_stats(loss, grad_norm, td_error, q_taken, targets, tr.mask)
        stats.update(td_loss=td_loss.item(), local_q_l1=local_l1.item(), predictor_loss=predictor_loss,
                     intrinsic_reward_mean=masked_mean(r_int, tr.mask).item())
        return TrainOutput(stats=stats)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "predictors": self.predictors.state_dict(),
                "predictor_optimiser": self.predictors.optimiser.state_dict(),
                "predictor_rng": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.predictors.load_state_dict(state["predictors"])
        self.predictors.optimiser.load_state_dict(state["predictor_optimiser"])
        self.generator.set_state(state["predictor_rng"])

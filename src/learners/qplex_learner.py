"""QPLEX (Wang et al. 2021): QMIX's recurrent Q-learning with the duplex dueling mixer.

Everything but the mixing is QLearner's (TD targets, masking, double Q, target schedule); the
dueling mixer also needs the joint action as one-hots and each agent's max Q over its
available actions. The max is detached on the online path, as in wjh720/QPLEX, and taken over
the target network's values on the target path, where the actions are the double-Q ones."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from config.value_decomposition_schema import QPLEXConfig
from learners.q_learner import QLearner
from learners.targets import available_max, gather_actions


class QPLEXLearner(QLearner):
    Config = QPLEXConfig

    def _mix(self, mixer: torch.nn.Module | None, agent_out: torch.Tensor, actions: torch.Tensor,
             states: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        chosen = gather_actions(agent_out, actions)
        max_qs = available_max(agent_out.detach(), avail)
        onehot = F.one_hot(actions.squeeze(-1).long(), agent_out.shape[-1])
        return mixer(chosen, states, onehot, max_qs)

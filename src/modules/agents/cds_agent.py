"""CDS's agent (Li et al. 2021): one shared recurrent network with a shared Q head plus a small
individual linear head per agent, Q_i = Q_shared + Q_local,i.

The shared part keeps the sample efficiency of parameter sharing; the per-agent heads give each
agent room to behave differently (the learner keeps them small with an L1 penalty). The agent's
identity lives in these heads, which is why CDS runs without the agent-id input."""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F


class CDSAgent(nn.Module):
    def __init__(self, input_shape: int, args: Any):
        super().__init__()
        self.hidden_dim = args.hidden_dim
        self.n_agents = args.env_info.n_agents
        n_actions = args.env_info.n_actions
        self.fc1 = nn.Linear(input_shape, self.hidden_dim)
        self.rnn = nn.GRUCell(self.hidden_dim, self.hidden_dim)
        self.shared_head = nn.Linear(self.hidden_dim, n_actions)
        bound = 1.0 / math.sqrt(self.hidden_dim)  # nn.Linear's default initialisation, per agent
        self.local_weight = nn.Parameter(torch.empty(self.n_agents, self.hidden_dim, n_actions).uniform_(-bound, bound))
        self.local_bias = nn.Parameter(torch.empty(self.n_agents, n_actions).uniform_(-bound, bound))

    def init_hidden(self) -> torch.Tensor:
        return self.fc1.weight.new_zeros(1, self.hidden_dim)

    def local_values(self, hidden: torch.Tensor) -> torch.Tensor:
        """Individual Q components [..., N, A] from hidden states [..., N, H]."""
        return torch.einsum("...nh,nha->...na", hidden, self.local_weight) + self.local_bias

    def forward(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs [B*N, input_shape] (agents innermost), hidden [B*N, H] -> (Q [B*N, A], hidden [B*N, H])."""
        h = self.rnn(F.relu(self.fc1(inputs)), hidden.reshape(-1, self.hidden_dim))
        per_agent = h.view(-1, self.n_agents, self.hidden_dim)
        q = self.shared_head(per_agent) + self.local_values(per_agent)
        return q.reshape(h.shape[0], -1), h

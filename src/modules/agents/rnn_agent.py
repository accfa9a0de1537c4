"""The pymarl agent: one network shared by all agents (ids are in the inputs)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F


class RNNAgent(nn.Module):
    """fc -> ReLU -> GRUCell (or Linear + ReLU when `use_rnn` is False) -> fc(n_actions)."""

    def __init__(self, input_shape: int, args: Any):
        super().__init__()
        self.hidden_dim = args.hidden_dim
        self.use_rnn = args.use_rnn
        self.fc1 = nn.Linear(input_shape, self.hidden_dim)
        hidden = self.hidden_dim
        self.rnn = nn.GRUCell(hidden, hidden) if self.use_rnn else nn.Linear(hidden, hidden)
        self.fc2 = nn.Linear(self.hidden_dim, args.env_info.n_actions)

    def init_hidden(self) -> torch.Tensor:
        """A [1, hidden_dim] zero state on the module's device (expanded by the controller)."""
        return self.fc1.weight.new_zeros(1, self.hidden_dim)

    def forward(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs [M, input_shape], hidden [M, H] -> (outputs [M, n_actions], new hidden [M, H])."""
        x = F.relu(self.fc1(inputs))
        h = self.rnn(x, hidden.reshape(-1, self.hidden_dim)) if self.use_rnn else F.relu(self.rnn(x))
        return self.fc2(h), h

"""RODE's agent trunk (Wang et al. 2021): fc -> ReLU -> GRUCell, returning the hidden state.

The Q-values come from the role heads (`modules.rode.roles`) applied to this state, so the
controller's `forward` yields the hidden state itself as the agent output."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F


class RODEAgent(nn.Module):
    def __init__(self, input_shape: int, args: Any):
        super().__init__()
        self.hidden_dim = args.hidden_dim
        self.fc1 = nn.Linear(input_shape, self.hidden_dim)
        self.rnn = nn.GRUCell(self.hidden_dim, self.hidden_dim)

    def init_hidden(self) -> torch.Tensor:
        return self.fc1.weight.new_zeros(1, self.hidden_dim)

    def forward(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs [M, input_shape], hidden [M, H] -> (hidden, hidden): the trunk's output is its state."""
        h = self.rnn(F.relu(self.fc1(inputs)), hidden.reshape(-1, self.hidden_dim))
        return h, h

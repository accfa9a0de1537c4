"""Feed-forward state-value critics shared by IPPO and MAPPO; subclasses only choose the inputs."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
import torch.nn as nn

from components.episode_buffer import EpisodeBatch


def field_dim(scheme: dict, key: str) -> int:
    """Flat size of a scheme field whose vshape is an int or a 1-tuple."""
    vshape = scheme[key]["vshape"]
    return int(vshape if isinstance(vshape, int) else vshape[0])


def agent_ids(batch_size: int, seq_len: int, n_agents: int, device: torch.device) -> torch.Tensor:
    """One-hot agent ids [B, T, N, N], so one shared critic can tell the agents apart."""
    return torch.eye(n_agents, device=device).expand(batch_size, seq_len, n_agents, n_agents)


class MLPCritic(nn.Module, ABC):
    """inputs [B, T, N, F] -> fc-ReLU-fc-ReLU-fc -> V [B, T, N]; evaluates all time steps at once."""

    def __init__(self, scheme: dict, args: Any):
        super().__init__()
        self.n_agents = args.env_info.n_agents
        self.use_agent_id = args.obs_agent_id
        hidden = args.critic_hidden_dim
        self.net = nn.Sequential(
            nn.Linear(self._input_shape(scheme), hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    @abstractmethod
    def _features(self, batch: EpisodeBatch) -> torch.Tensor:
        """Per-agent features [B, T, N, F] without the agent id."""

    @abstractmethod
    def _feature_shape(self, scheme: dict) -> int:
        ...

    def _input_shape(self, scheme: dict) -> int:
        return self._feature_shape(scheme) + (self.n_agents if self.use_agent_id else 0)

    def forward(self, batch: EpisodeBatch) -> torch.Tensor:
        device = next(self.parameters()).device
        x = self._features(batch).to(device)
        if self.use_agent_id:
            x = torch.cat([x, agent_ids(batch.batch_size, batch.max_seq_length, self.n_agents, device)], dim=-1)
        return self.net(x).squeeze(-1)

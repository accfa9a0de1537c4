"""MAPPO's centralised critic: V(s, i) from the global state and the agent id."""
from __future__ import annotations

import torch

from components.episode_buffer import EpisodeBatch
from modules.critics.base import MLPCritic, field_dim


class CentralVCritic(MLPCritic):
    def _feature_shape(self, scheme: dict) -> int:
        return field_dim(scheme, "state")

    def _features(self, batch: EpisodeBatch) -> torch.Tensor:
        state = batch["state"]
        return state.unsqueeze(2).expand(-1, -1, self.n_agents, -1)

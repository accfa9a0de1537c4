"""MAPPO's agent-specific global state critic: V(s, o_i, i) from the global state, the agent's own
observation and its id (the "AS" state of Yu et al., 2022, section 4.2; JaxMARL's SMAX world state)."""
from __future__ import annotations

import torch

from components.episode_buffer import EpisodeBatch
from modules.critics.base import MLPCritic, field_dim


class AgentStateCritic(MLPCritic):
    def _feature_shape(self, scheme: dict) -> int:
        return field_dim(scheme, "state") + field_dim(scheme, "obs")

    def _features(self, batch: EpisodeBatch) -> torch.Tensor:
        state = batch["state"].unsqueeze(2).expand(-1, -1, self.n_agents, -1)
        return torch.cat([state, batch["obs"]], dim=-1)

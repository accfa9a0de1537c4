"""MAPPO's agent-specific global state critic: V(s, o_i, i) from the global state, the agent's own
observation and its id (the "AS" state of Yu et al., 2022, section 4.2; JaxMARL's SMAX world state)."""
from __future__ import annotations

import torch

from components.episode_buffer import EpisodeBatch
from modules.critics.base import field_dim
from modules.critics.centralV import CentralVCritic


class AgentStateCritic(CentralVCritic):
    """The central critic's per-agent copy of the state, with the agent's own observation appended."""

    def _feature_shape(self, scheme: dict) -> int:
        return super()._feature_shape(scheme) + field_dim(scheme, "obs")

    def _features(self, batch: EpisodeBatch) -> torch.Tensor:
        return torch.cat([super()._features(batch), batch["obs"]], dim=-1)

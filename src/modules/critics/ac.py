"""IPPO's decentralised critic: V(o_i, i) from the agent's own observation (and id)."""
from __future__ import annotations

import torch

from components.episode_buffer import EpisodeBatch
from modules.critics.base import MLPCritic, field_dim


class ACCritic(MLPCritic):
    def _feature_shape(self, scheme: dict) -> int:
        return field_dim(scheme, "obs")

    def _features(self, batch: EpisodeBatch) -> torch.Tensor:
        return batch["obs"]

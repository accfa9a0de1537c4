"""The contract between the search and any model (docs/architecture.md, "Search model")."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from torch import Tensor


@dataclass
class ModelOutput:
    """One batched model call; the search only reads these four attributes (duck-typed)."""

    latent: Tensor            # [B, N, H]
    reward: Tensor | None     # [B] (None for initial inference)
    value: Tensor             # [B]
    policy_logits: Tensor     # [B, N, A]


class SearchModel(Protocol):
    """Anything with these two methods can be searched; tensors stay on one device."""

    def initial_inference(self, obs: Tensor, agent_mask: Tensor) -> ModelOutput: ...

    def recurrent_inference(self, latent: Tensor, joint_action: Tensor, agent_mask: Tensor) -> ModelOutput: ...

"""VDN (Sunehag et al. 2017): the joint value is the sum of the agents' values."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn


class VDNMixer(nn.Module):
    def __init__(self, args: Any | None = None):
        super().__init__()

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor | None = None) -> torch.Tensor:
        """agent_qs [B, T, N] -> Q_tot [B, T, 1]; the state is ignored."""
        return agent_qs.sum(dim=-1, keepdim=True)

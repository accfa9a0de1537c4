"""RODE's role selector and role policies, both dot products with learned representations.

The selector scores role r as f(h) . z_r (z_r: the mean representation of r's actions), and
role r's policy scores action a as g_r(h) . z_a; acting restricts it to r's action space. The
selector reads its own recurrent trunk's state, the role policies the action trunk's."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class RoleSelector(nn.Module):
    def __init__(self, hidden_dim: int, latent_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(hidden_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, latent_dim)

    def forward(self, hidden: torch.Tensor, role_latents: torch.Tensor) -> torch.Tensor:
        """hidden [..., H], role_latents [R, L] -> role values [..., R]."""
        return self.fc2(F.relu(self.fc1(hidden))) @ role_latents.t()


class RolePolicies(nn.Module):
    """One linear map H -> L per role, evaluated for all roles at once."""

    def __init__(self, n_roles: int, hidden_dim: int, latent_dim: int):
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(hidden_dim, latent_dim) for _ in range(n_roles))

    def forward(self, hidden: torch.Tensor, action_repr: torch.Tensor) -> torch.Tensor:
        """hidden [..., H], action_repr [A, L] -> action values of every role [..., R, A]."""
        return torch.stack([head(hidden) for head in self.heads], dim=-2) @ action_repr.t()

"""RODE's action-effect representations: an encoder z_a for every action, trained by predicting
what the action does (the agent's next observation and the team reward) from the agent's own
observation, z of its action and the actions of the others.

Actions with similar effects end up with nearby z_a, which is what the clustering into role
action spaces relies on."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ActionEncoder(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int, state_latent_dim: int, action_latent_dim: int, hidden_dim: int):
        super().__init__()
        self.n_actions = n_actions
        self.action_net = nn.Sequential(nn.Linear(n_actions, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, action_latent_dim))
        self.obs_net = nn.Linear(obs_dim, state_latent_dim)
        self.trunk = nn.Linear(state_latent_dim + action_latent_dim + n_actions, hidden_dim)
        self.next_obs_head = nn.Linear(hidden_dim, obs_dim)
        self.reward_head = nn.Linear(hidden_dim, 1)

    def representations(self) -> torch.Tensor:
        """z_a for every action: [A, action_latent_dim]."""
        return self.action_net(torch.eye(self.n_actions, device=self.reward_head.weight.device))

    def forward(self, obs: torch.Tensor, actions_onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs [..., N, O], actions_onehot [..., N, A] -> predicted next obs [..., N, O] and reward [..., N, 1].

        The others' actions enter as counts per action (the sum of their one-hots), which does not
        depend on how the agents are ordered."""
        others = actions_onehot.sum(dim=-2, keepdim=True) - actions_onehot
        x = torch.cat([F.relu(self.obs_net(obs)), self.action_net(actions_onehot), others], dim=-1)
        h = F.relu(self.trunk(x))
        return self.next_obs_head(h), self.reward_head(h)

"""QMIX (Rashid et al. 2018): a monotonic mixing network whose weights come from hypernetworks on the state.

Absolute values of the hypernetwork outputs make every mixing weight non-negative, so
dQ_tot/dQ_i >= 0 and the per-agent argmax is the joint argmax (IGM)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F


def _hypernet(state_dim: int, out_dim: int, layers: int, embed: int) -> nn.Module:
    if layers == 1:
        return nn.Linear(state_dim, out_dim)
    return nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, out_dim))


class QMixer(nn.Module):
    def __init__(self, args: Any):
        super().__init__()
        self.n_agents = args.env_info.n_agents
        self.state_dim = int(args.env_info.state_shape)
        self.embed_dim = args.mixing_embed_dim
        layers, embed = args.hypernet_layers, args.hypernet_embed
        self.hyper_w1 = _hypernet(self.state_dim, self.embed_dim * self.n_agents, layers, embed)
        self.hyper_w2 = _hypernet(self.state_dim, self.embed_dim, layers, embed)
        self.hyper_b1 = nn.Linear(self.state_dim, self.embed_dim)
        self.hyper_v = nn.Sequential(nn.Linear(self.state_dim, self.embed_dim), nn.ReLU(), nn.Linear(self.embed_dim, 1))

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """agent_qs [B, T, N], states [B, T, S] -> Q_tot [B, T, 1]."""
        lead = agent_qs.shape[:-1]
        s = states.reshape(-1, self.state_dim)
        qs = agent_qs.reshape(-1, 1, self.n_agents)
        w1 = self.hyper_w1(s).abs().view(-1, self.n_agents, self.embed_dim)
        b1 = self.hyper_b1(s).view(-1, 1, self.embed_dim)
        hidden = F.elu(torch.bmm(qs, w1) + b1)
        w2 = self.hyper_w2(s).abs().view(-1, self.embed_dim, 1)
        q_tot = torch.bmm(hidden, w2) + self.hyper_v(s).view(-1, 1, 1)
        return q_tot.view(*lead, 1)

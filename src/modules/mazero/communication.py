"""Communication function e (paper eq. 4): a transformer over the agents' (latent, action) pairs.

Each agent embeds concat(s^i, onehot(a^i)) with Linear + ReLU, adds a sinusoidal encoding of its
index (to tell homogeneous agents apart), and a post-LN transformer encoder mixes the agents.

Dead agents are masked out of attention: an alive agent attends to alive agents only, and a dead
agent attends only to itself. Every row keeps at least its own key, so no softmax row is all
-inf (which would give NaN, e.g. on padded positions where every agent is dead). The reference
uses no mask at all, so dead agents leak into the others' features there.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from modules.mazero.blocks import make_linear


def sinusoidal_encoding(n_positions: int, dim: int, device: torch.device | None = None) -> Tensor:
    """Transformer positional table [n_positions, dim] (Vaswani et al.), indexed by agent id."""
    position = torch.arange(n_positions, dtype=torch.float32, device=device).unsqueeze(1)
    frequency = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim)
    )
    table = torch.zeros(n_positions, dim, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


def blocked_attention(agent_mask: Tensor, n_heads: int) -> Tensor:
    """Boolean attention mask [B*heads, N, N] (True = blocked) for nn.TransformerEncoder.

    Query i may read key j iff both are alive, or i == j.
    """
    alive = agent_mask.bool()
    n_agents = alive.shape[-1]
    eye = torch.eye(n_agents, dtype=torch.bool, device=alive.device)
    allowed = (alive.unsqueeze(-1) & alive.unsqueeze(-2)) | eye
    return (~allowed).repeat_interleave(n_heads, dim=0)


class AgentCommunication(nn.Module):
    """e^1..e^N = Transformer(Linear+ReLU(concat(s^i, onehot(a^i))) + PE(i)); output [B, N, D].

    `enabled=False` is the "without communication" ablation: the transformer (and the index
    encoding) become the identity, so e^i depends on agent i's own (s^i, a^i) only.
    """

    def __init__(
        self,
        latent_dim: int,
        n_actions: int,
        model_dim: int = 128,
        n_layers: int = 3,
        n_heads: int = 8,
        feedforward_dim: int = 128,
        dropout: float = 0.1,
        enabled: bool = True,
        agent_index_encoding: bool = True,
    ) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.enabled = enabled
        self.agent_index_encoding = agent_index_encoding and enabled
        self.embed = nn.Sequential(make_linear(latent_dim + n_actions, model_dim), nn.ReLU())
        self.encoder: nn.TransformerEncoder | None = None
        if enabled:
            layer = nn.TransformerEncoderLayer(
                d_model=model_dim,
                nhead=n_heads,
                dim_feedforward=feedforward_dim,
                dropout=dropout,
                batch_first=True,
                norm_first=False,
            )
            self.encoder = nn.TransformerEncoder(layer, num_layers=n_layers, enable_nested_tensor=False)

    def forward(self, latent: Tensor, action_one_hot: Tensor, agent_mask: Tensor) -> Tensor:
        tokens = self.embed(torch.cat([latent, action_one_hot], dim=-1))
        if self.encoder is None:
            return tokens
        if self.agent_index_encoding:
            n_agents, model_dim = tokens.shape[-2:]
            tokens = tokens + sinusoidal_encoding(n_agents, model_dim, tokens.device).to(tokens.dtype)
        # Always masked, never branched on the mask's content: a data-dependent branch would
        # force a host sync per call and break CUDA-graph capture of a search simulation.
        return self.encoder(tokens, mask=blocked_attention(agent_mask, self.n_heads))

"""MAMBA's decentralised actor and centralised critic.

The actor reads one agent's own latent features [z, h], so acting needs only that agent's world
model state (which it keeps up to date by communicating). The critic sees every agent: an
embedding of each agent's features, one attention layer over the agents, and a value per agent
(official `MADDPGCritic`)."""
from __future__ import annotations

from torch import Tensor, nn

from modules.mamba.communication import AgentAttention
from modules.mamba.heads import dense, init_weights

MASKED_LOGIT = -1e10  # finite, so a row with no available action stays uniform instead of NaN


def masked_logits(logits: Tensor, available: Tensor) -> Tensor:
    """Unavailable actions (available == 0) get zero probability under the softmax."""
    return logits.masked_fill(available == 0, MASKED_LOGIT)


class Actor(nn.Sequential):
    """[z_i, h_i] -> action logits [..., N, A]: two ReLU hidden layers, orthogonal init (official Actor)."""

    def __init__(self, features: int, hidden: int, n_actions: int) -> None:
        super().__init__(*dense(features, n_actions, hidden, n_hidden_layers=2))
        init_weights(self, orthogonal=True)


class AttentionCritic(nn.Module):
    """features [..., N, F] -> V_i [..., N, 1], each agent's value from all agents' features."""

    def __init__(self, features: int, hidden: int, n_heads: int, agent_index_encoding: bool) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(features, hidden), nn.ReLU())
        self.attention = AgentAttention(hidden, n_layers=1, n_heads=n_heads, dropout=0.0,
                                        agent_index_encoding=agent_index_encoding)
        self.value = nn.Sequential(nn.ReLU(), dense(hidden, 1, hidden, n_hidden_layers=1))
        init_weights(self)

    def forward(self, features: Tensor) -> Tensor:
        return self.value(self.attention(self.embed(features)))

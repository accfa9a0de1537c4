"""MAMBA's communication block: a transformer over the agents' tokens of one time step.

The world model mixes every agent's (latent, previous action) token with the other agents' before
each GRU update, and the centralised critic attends over the agents' features the same way. As in
the official `AttentionEncoder`, a sinusoidal table of the agent index is added first (it lets
agents that share weights tell themselves apart) and the layers are post-LN with a ReLU
feed-forward block as wide as the tokens. Without the index table the block is
permutation-equivariant over agents. No attention mask: the official code passes none on SMAC."""
from __future__ import annotations

from torch import Tensor, nn

from modules.mazero.communication import sinusoidal_encoding


class AgentAttention(nn.Module):
    """tokens [..., N, D] -> [..., N, D], every agent attending to every agent."""

    def __init__(self, dim: int, n_layers: int, n_heads: int, dropout: float, agent_index_encoding: bool) -> None:
        super().__init__()
        self.agent_index_encoding = agent_index_encoding
        layer = nn.TransformerEncoderLayer(d_model=dim, nhead=n_heads, dim_feedforward=dim, dropout=dropout,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=n_layers, enable_nested_tensor=False)

    def forward(self, tokens: Tensor) -> Tensor:
        n_agents, dim = tokens.shape[-2:]
        flat = tokens.reshape(-1, n_agents, dim)
        if self.agent_index_encoding:
            flat = flat + sinusoidal_encoding(n_agents, dim, tokens.device).to(tokens.dtype)
        return self.encoder(flat).reshape(tokens.shape)

"""Prediction heads: centralised heads over all agents (value, reward, projection) and the
per-agent policy head.

Two forms of centralised head:
- `ConcatHead` (reference): an MLP over the concatenation of the N agents' features. Fixes N and
  the agent order; dead agents' features are included as they are.
- `PooledHead`: a shared per-agent encoder, masked mean over alive agents, then an MLP. Invariant
  to agent permutations and independent of N.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from modules.mazero.blocks import mlp


class ConcatHead(nn.Module):
    """out = MLP(concat_i x_i): [B, N, F] -> [B, out]; the reference's value/reward head."""

    def __init__(
        self, n_agents: int, in_features: int, hidden: Sequence[int], out_features: int,
        zero_init_output: bool = True,
    ) -> None:
        super().__init__()
        self.body = mlp(
            n_agents * in_features, hidden, out_features,
            activate_output=False, zero_init_output=zero_init_output,
        )

    def forward(self, features: Tensor, agent_mask: Tensor) -> Tensor:
        return self.body(features.flatten(-2))


def masked_mean(features: Tensor, agent_mask: Tensor) -> Tensor:
    """Mean over alive agents [B, N, F] -> [B, F]; zeros where no agent is alive."""
    weights = agent_mask.to(features.dtype).unsqueeze(-1)
    return (features * weights).sum(-2) / weights.sum(-2).clamp(min=1.0)


class PooledHead(nn.Module):
    """out = MLP(mean_{i alive} phi(x_i)): permutation invariant; phi is Linear+ReLU+LN."""

    def __init__(
        self, in_features: int, hidden: Sequence[int], out_features: int, zero_init_output: bool = True
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("a pooled head needs at least one hidden layer (the per-agent encoder)")
        self.encoder = mlp(in_features, [], hidden[0])
        self.decoder = mlp(
            hidden[0], hidden[1:], out_features,
            activate_output=False, zero_init_output=zero_init_output,
        )

    def forward(self, features: Tensor, agent_mask: Tensor) -> Tensor:
        return self.decoder(masked_mean(self.encoder(features), agent_mask))


def centralised_head(
    kind: str, n_agents: int, in_features: int, hidden: Sequence[int], out_features: int,
    zero_init_output: bool = True,
) -> nn.Module:
    """Builds a `ConcatHead` ("concat") or a `PooledHead` ("pooled")."""
    if kind == "concat":
        return ConcatHead(n_agents, in_features, hidden, out_features, zero_init_output)
    if kind == "pooled":
        return PooledHead(in_features, hidden, out_features, zero_init_output)
    raise ValueError(f"unknown centralised head kind {kind!r}; expected 'concat' or 'pooled'")


class PolicyHead(nn.Module):
    """p^i = P(s^i): per-agent logits [B, N, A] from the agent's own latent (shared or per-agent)."""

    def __init__(
        self, latent_dim: int, hidden: Sequence[int], n_actions: int,
        zero_init_output: bool = True, n_agents: int | None = None,
    ) -> None:
        super().__init__()
        self.body = mlp(
            latent_dim, hidden, n_actions,
            activate_output=False, zero_init_output=zero_init_output, n_agents=n_agents,
        )

    def forward(self, latent: Tensor) -> Tensor:
        return self.body(latent)


class ConsistencyProjection(nn.Module):
    """SimSiam heads for the consistency loss (EfficientZero, reference section 1.8).

    projection: MLP(in, [projection_hidden], projection_dim) + LayerNorm;
    prediction: MLP(projection_dim, [prediction_hidden], projection_dim), applied to the
    dynamics branch only. "joint" projects the concatenated latents [B, N*H] -> [B, D] (reference);
    "per_agent" projects each agent's latent [B, N, H] -> [B, N, D] (shared weights, any N).
    """

    def __init__(
        self, kind: str, n_agents: int, latent_dim: int, projection_hidden: int, projection_dim: int,
        prediction_hidden: int,
    ) -> None:
        super().__init__()
        if kind not in ("joint", "per_agent"):
            raise ValueError(f"unknown projection kind {kind!r}; expected 'joint' or 'per_agent'")
        self.joint = kind == "joint"
        in_features = n_agents * latent_dim if self.joint else latent_dim
        self.projection = nn.Sequential(
            mlp(in_features, [projection_hidden], projection_dim), nn.LayerNorm(projection_dim)
        )
        self.prediction = mlp(projection_dim, [prediction_hidden], projection_dim)

    def forward(self, latent: Tensor, with_prediction_head: bool) -> Tensor:
        features = latent.flatten(-2) if self.joint else latent
        projected = self.projection(features)
        return self.prediction(projected) if with_prediction_head else projected


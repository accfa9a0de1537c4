"""Building blocks of the MAZero network: MLPs of Linear -> ReLU -> LayerNorm, optionally with
separate weights per agent (the "without parameter sharing" ablation), and a residual MLP.

Inputs of per-agent layers are [..., N, features]; shared layers accept any [..., features].
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RELU_GAIN = math.sqrt(2.0)


class AgentLinear(nn.Module):
    """A Linear layer with its own weights for each of N agents (batched over the agent axis -2)."""

    def __init__(self, n_agents: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.n_agents = n_agents
        self.weight = nn.Parameter(torch.empty(n_agents, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(n_agents, out_features))
        with torch.no_grad():
            for agent_weight in self.weight:
                like_nn_linear = torch.empty(out_features, in_features)
                nn.init.orthogonal_(like_nn_linear, gain=RELU_GAIN)
                agent_weight.copy_(like_nn_linear.T)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2] != self.n_agents:
            raise ValueError(f"per-agent layer built for {self.n_agents} agents, got {x.shape[-2]}")
        return torch.einsum("...ni,nio->...no", x, self.weight) + self.bias


class AgentLayerNorm(nn.Module):
    """LayerNorm over features with a separate affine transform per agent (agent axis -2)."""

    def __init__(self, n_agents: int, features: int) -> None:
        super().__init__()
        self.features = features
        self.weight = nn.Parameter(torch.ones(n_agents, features))
        self.bias = nn.Parameter(torch.zeros(n_agents, features))

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, (self.features,)) * self.weight + self.bias


def make_linear(in_features: int, out_features: int, n_agents: int | None = None) -> nn.Module:
    """A shared nn.Linear (orthogonal init, gain sqrt(2), zero bias) or a per-agent one."""
    if n_agents is not None:
        return AgentLinear(n_agents, in_features, out_features)
    layer = nn.Linear(in_features, out_features)
    nn.init.orthogonal_(layer.weight, gain=RELU_GAIN)
    nn.init.zeros_(layer.bias)
    return layer


def make_layer_norm(features: int, n_agents: int | None = None) -> nn.Module:
    """A shared LayerNorm or one with per-agent affine parameters."""
    return nn.LayerNorm(features) if n_agents is None else AgentLayerNorm(n_agents, features)


def zero_init_(layer: nn.Module) -> None:
    """Zero the weights and bias, so a head starts uniform (the reference does this for SMAC)."""
    for parameter in layer.parameters():
        nn.init.zeros_(parameter)


def mlp(
    in_features: int,
    hidden: Sequence[int],
    out_features: int,
    *,
    activate_output: bool = True,
    zero_init_output: bool = False,
    n_agents: int | None = None,
) -> nn.Sequential:
    """[in] + hidden + [out] Linear layers, each followed by ReLU then LayerNorm (paper B.1).

    `activate_output=False` leaves the last layer a bare Linear (a logits head).
    `n_agents` gives every layer per-agent weights.
    """
    sizes = [in_features, *hidden, out_features]
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = make_linear(fan_in, fan_out, n_agents)
        layers.append(linear)
        is_output = index == len(sizes) - 2
        if is_output and zero_init_output:
            zero_init_(linear)
        if not is_output or activate_output:
            layers.extend([nn.ReLU(), make_layer_norm(fan_out, n_agents)])
    return nn.Sequential(*layers)


class ResidualMLP(nn.Module):
    """s' = s + MLP(features): the dynamics' residual connection, which keeps gradients alive
    through long unrolls (paper B.1). No normalisation after the sum, as in the reference."""

    def __init__(
        self, in_features: int, hidden: Sequence[int], out_features: int, n_agents: int | None = None
    ) -> None:
        super().__init__()
        self.body = mlp(in_features, hidden, out_features, n_agents=n_agents)

    def forward(self, residual: Tensor, features: Tensor) -> Tensor:
        return residual + self.body(features)

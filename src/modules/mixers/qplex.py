"""QPLEX's duplex dueling mixer (Wang et al. 2021, the `dmaq` mixer of wjh720/QPLEX).

Q_tot(s, a) = V_tot + A_tot with
    V_tot = sum_i [w_i(s) Q_i(tau_i, a_i) + b_i(s)]                        (transformation networks)
    A_tot = sum_i (lambda_i(s, a) - 1) w_i(s) [Q_i(tau_i, a_i) - max Q_i]  (duplex dueling advantage)
which is the paper's sum_i (w_i max Q_i + b_i) + sum_i lambda_i w_i (Q_i - max Q_i) rearranged.
With w_i > 0 and lambda_i > 0 every non-greedy agent action strictly lowers Q_tot, so the
per-agent argmax is the joint argmax (IGM) while lambda_i lets Q_tot represent non-monotonic
payoffs that QMIX cannot.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

POSITIVE_EPS = 1e-10


def hypernet(in_dim: int, out_dim: int, layers: int, embed: int) -> nn.Module:
    """1: linear; 2 or 3: ReLU MLPs with `embed` units (QPLEX's adv_hypernet_layers)."""
    sizes = [in_dim] + [embed] * (layers - 1) + [out_dim]
    modules: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        modules.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


class AdvantageWeights(nn.Module):
    """lambda_i(s, a) > 0 from `num_kernel` attention heads over (state, joint action one-hot).

    Head k contributes |key_k(s)| * sigmoid(agent_k(s))_i * sigmoid(action_k(s, a))_i, so the
    weight is positive, state-dependent per agent, and sensitive to the joint action."""

    def __init__(self, state_dim: int, n_agents: int, n_actions: int, num_kernel: int, layers: int, embed: int):
        super().__init__()
        action_dim = state_dim + n_agents * n_actions
        self.keys = nn.ModuleList(hypernet(state_dim, 1, layers, embed) for _ in range(num_kernel))
        self.agents = nn.ModuleList(hypernet(state_dim, n_agents, layers, embed) for _ in range(num_kernel))
        self.actions = nn.ModuleList(hypernet(action_dim, n_agents, layers, embed) for _ in range(num_kernel))

    def forward(self, states: torch.Tensor, actions_onehot: torch.Tensor) -> torch.Tensor:
        """states [M, S], actions_onehot [M, N*A] -> lambda [M, N]."""
        state_action = torch.cat([states, actions_onehot], dim=-1)
        heads = [
            (key(states).abs() + POSITIVE_EPS) * torch.sigmoid(agent(states)) * torch.sigmoid(action(state_action))
            for key, agent, action in zip(self.keys, self.agents, self.actions)
        ]
        return torch.stack(heads, dim=0).sum(dim=0)


class QPLEXMixer(nn.Module):
    """forward(agent_qs, states, actions_onehot, max_qs) -> Q_tot; a dueling mixer needs the last two."""

    dueling = True

    def __init__(self, args: Any):
        super().__init__()
        self.n_agents = args.env_info.n_agents
        self.n_actions = args.env_info.n_actions
        self.state_dim = int(args.env_info.state_shape)
        self.stop_gradient = args.is_stop_gradient
        embed = args.hypernet_embed
        self.hyper_w = nn.Sequential(nn.Linear(self.state_dim, embed), nn.ReLU(), nn.Linear(embed, self.n_agents))
        self.hyper_b = nn.Sequential(nn.Linear(self.state_dim, embed), nn.ReLU(), nn.Linear(embed, self.n_agents))
        self.lambdas = AdvantageWeights(self.state_dim, self.n_agents, self.n_actions, args.num_kernel,
                                        args.adv_hypernet_layers, args.adv_hypernet_embed)

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor, actions_onehot: torch.Tensor,
                max_qs: torch.Tensor) -> torch.Tensor:
        """agent_qs, max_qs [B, T, N]; states [B, T, S]; actions_onehot [B, T, N, A] -> Q_tot [B, T, 1]."""
        lead = agent_qs.shape[:-1]
        s = states.reshape(-1, self.state_dim)
        qs = agent_qs.reshape(-1, self.n_agents)
        w = self.hyper_w(s).abs() + POSITIVE_EPS
        v_tot = (w * qs + self.hyper_b(s)).sum(dim=-1)
        advantage = w * (qs - max_qs.reshape(-1, self.n_agents))
        if self.stop_gradient:  # lambda learns the joint-action weighting; Q_i learn through V_tot
            advantage = advantage.detach()
        lam = self.lambdas(s, actions_onehot.reshape(-1, self.n_agents * self.n_actions).float())
        a_tot = (advantage * (lam - 1.0)).sum(dim=-1)
        return (v_tot + a_tot).view(*lead, 1)

    def advantage_weights(self, states: torch.Tensor, actions_onehot: torch.Tensor) -> torch.Tensor:
        """lambda [B, T, N] (exposed for tests and diagnostics)."""
        lead = states.shape[:-1]
        lam = self.lambdas(states.reshape(-1, self.state_dim),
                           actions_onehot.reshape(-1, self.n_agents * self.n_actions).float())
        return lam.view(*lead, self.n_agents)

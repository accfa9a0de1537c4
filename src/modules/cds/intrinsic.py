"""CDS's intrinsic reward (Li et al. 2021, lich14/CDS `dmaq_qatten_learner`), as pure functions.

Per agent i:  r_i = beta1 * log q(o'_i | tau_i, a_i, i) - log p(o'_i | tau_i, a_i)
                    + beta2 * KL(softmax(beta1 * Q_i) || mean_j softmax(Q_j)).
The first part rewards observations that the agent's identity makes predictable (identity-level
diversity in what agents do), the KL part rewards Q-functions that differ from the team's mean.
With beta1 = 1 both parts are estimates of mutual information between identity and trajectory,
so they vanish when all agents behave identically. The team gets the mean over agents."""
from __future__ import annotations

import torch


def action_divergence(agent_qs: torch.Tensor, beta1: float) -> torch.Tensor:
    """KL(softmax(beta1 Q_i) || mean_j softmax(Q_j)) per agent: [..., N, A] -> [..., N]."""
    log_mean = torch.log(torch.softmax(agent_qs, dim=-1).mean(dim=-2, keepdim=True).clamp_min(1e-12))
    log_own = torch.log_softmax(beta1 * agent_qs, dim=-1)
    return (log_own.exp() * (log_own - log_mean)).sum(dim=-1)


def intrinsic_reward(log_q: torch.Tensor, log_p: torch.Tensor, agent_qs: torch.Tensor,
                     beta1: float, beta2: float) -> torch.Tensor:
    """Team intrinsic reward [..., 1] from per-agent log-likelihoods [..., N] and Q-values [..., N, A]."""
    per_agent = beta1 * log_q - log_p + beta2 * action_divergence(agent_qs, beta1)
    return per_agent.mean(dim=-1, keepdim=True)


def anneal_factor(t_env: int, enabled: bool, start: int, rate: float) -> float:
    """CDS's optional decay: 1 until `start`, then max(1 - rate (t - start) / 1M, 0)."""
    if not enabled or t_env <= start:
        return 1.0
    return max(1.0 - rate * (t_env - start) / 1_000_000, 0.0)

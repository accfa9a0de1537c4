"""The world model's loss terms that are not a plain regression: the KL balancing between the
RSSM's posterior and prior, as pure functions of their logits."""
from __future__ import annotations

import torch
from torch import Tensor


def categorical_kl(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """KL(p || q) of categoricals [..., K] -> [...], exact from the logits."""
    log_p, log_q = torch.log_softmax(p_logits, dim=-1), torch.log_softmax(q_logits, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def kl_balance_loss(posterior_logits: Tensor, prior_logits: Tensor, n_categoricals: int, balance: float) -> Tensor:
    """DreamerV2's KL balancing per state [...] from flattened logits [..., C*K]:

        balance * KL(sg(q) || p) + (1 - balance) * KL(q || sg(p)),

    which trains the prior towards the posterior faster than it regularises the posterior. Each KL
    sums over the K classes and, as in the official MAMBA code, averages over the C categoricals
    (DreamerV2 sums them: its KL weighs C times more against the other losses)."""
    posterior = posterior_logits.unflatten(-1, (n_categoricals, -1))
    prior = prior_logits.unflatten(-1, (n_categoricals, -1))
    train_prior = categorical_kl(posterior.detach(), prior)
    train_posterior = categorical_kl(posterior, prior.detach())
    return (balance * train_prior + (1.0 - balance) * train_posterior).mean(dim=-1)

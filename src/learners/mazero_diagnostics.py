"""What a MAZero run logs to tell whether planning helps: how sharp the search's policy targets
are against the prior, how far the search's value moved from the model's own estimate, and
(on request) how much of the shared network's gradient each loss term contributes."""
from __future__ import annotations

import torch
from torch import Tensor

from learners.targets import policy_entropy


def search_policy_entropy(omega: Tensor, valid: Tensor) -> Tensor:
    """Entropy (nats) of the visit distribution over each root's sampled joint actions [...];
    0 for a root whose visits all went to one child. omega, valid: [..., M]."""
    return policy_entropy(omega * valid)


def prior_entropy(policy_logits: Tensor, avail: Tensor) -> Tensor:
    """Entropy (nats) of each agent's prior over its available actions [..., N].
    policy_logits, avail: [..., N, A]; an agent with no available action counts all actions."""
    legal = avail.bool() | ~avail.bool().any(-1, keepdim=True)
    log_p = torch.log_softmax(policy_logits.masked_fill(~legal, float("-inf")), -1)
    return -(log_p.exp() * log_p.masked_fill(~legal, 0.0)).sum(-1)


def gradient_norms(terms: dict[str, Tensor], params: list[Tensor]) -> dict[str, float]:
    """L2 norm of each scalar loss term's gradient with respect to `params`, the graph kept for
    the update's own backward pass. A term that does not reach `params` has norm 0."""
    norms = {}
    for name, term in terms.items():
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        squares = [g.float().pow(2).sum() for g in grads if g is not None]
        norms[name] = float(torch.stack(squares).sum().sqrt()) if squares else 0.0
    return norms

"""Categorical value/reward representation (MuZero appendix F, MAZero appendix B.1).

Scalars are squashed by the invertible transform h, then spread as a "two-hot" distribution over
the integer support [-S, S] (2S+1 bins). The network predicts logits over the bins; a scalar is
read back as h^-1 of the expectation of the softmax.

The paper's h has a typo; the form below is MuZero's (and the reference code's). Unlike the
reference `_phi`, the two-hot encoding here never produces an all-zero target: a transformed value
that falls exactly on a bin puts all its mass on that bin.
"""
from __future__ import annotations

import torch
from torch import Tensor

TRANSFORM_EPS = 1e-3


def scalar_transform(x: Tensor, eps: float = TRANSFORM_EPS) -> Tensor:
    """h(x) = sign(x)(sqrt(|x|+1) - 1) + eps*x: compresses large returns into a small support."""
    return torch.sign(x) * (torch.sqrt(torch.abs(x) + 1.0) - 1.0) + eps * x


def inverse_scalar_transform(y: Tensor, eps: float = TRANSFORM_EPS) -> Tensor:
    """Exact inverse of `scalar_transform`.

    With r = sqrt(|x|+1), h gives eps*r^2 + r - (1 + eps + |y|) = 0. Writing r = 1 + d, the root
    is d = 2|y| / (sqrt(1 + 4 eps (|y| + 1 + eps)) + 1 + 2 eps), free of the cancellation of the
    textbook form (which loses ~1e-4 near 0 in fp32); then |x| = r^2 - 1 = d (d + 2).
    """
    magnitude = torch.abs(y)
    d = 2.0 * magnitude / (torch.sqrt(1.0 + 4.0 * eps * (magnitude + 1.0 + eps)) + 1.0 + 2.0 * eps)
    return torch.sign(y) * d * (d + 2.0)


def support_values(support_size: int, device: torch.device | None = None) -> Tensor:
    """The bin centres -S..S as float32, shape [2S+1]."""
    return torch.arange(-support_size, support_size + 1, dtype=torch.float32, device=device)


def two_hot(y: Tensor, support_size: int) -> Tensor:
    """Two-hot distribution over [-S, S] whose expectation is clamp(y, -S, S); shape [..., 2S+1].

    Mass (1-p) goes to floor(y) and p to floor(y)+1 with scatter_add, so an integer y keeps all of
    its mass on its own bin (the reference's overwrite left such targets all-zero).
    """
    clamped = torch.clamp(y.float(), -support_size, support_size)
    lower = torch.floor(clamped)
    upper_weight = clamped - lower
    lower_index = (lower + support_size).long()
    upper_index = torch.clamp(lower_index + 1, max=2 * support_size)
    target = torch.zeros(*clamped.shape, 2 * support_size + 1, dtype=torch.float32, device=y.device)
    target.scatter_add_(-1, lower_index.unsqueeze(-1), (1.0 - upper_weight).unsqueeze(-1))
    target.scatter_add_(-1, upper_index.unsqueeze(-1), upper_weight.unsqueeze(-1))
    return target


def scalar_to_categorical(x: Tensor, support_size: int, eps: float = TRANSFORM_EPS) -> Tensor:
    """Training target for a raw scalar (reward or return): two_hot(h(x)), shape [..., 2S+1]."""
    return two_hot(scalar_transform(x.float(), eps), support_size)


def categorical_expectation(logits: Tensor, support_size: int) -> Tensor:
    """Expectation of softmax(logits) over the support, in the transformed space; fp32 always."""
    probs = torch.softmax(logits.float(), dim=-1)
    return (probs * support_values(support_size, logits.device)).sum(-1)


def categorical_to_scalar(logits: Tensor, support_size: int, eps: float = TRANSFORM_EPS) -> Tensor:
    """Decode logits [..., 2S+1] to a scalar [...]: h^-1(E[bin]); softmax in fp32 (no fp16 underflow)."""
    if logits.shape[-1] != 2 * support_size + 1:
        raise ValueError(f"expected {2 * support_size + 1} bins, got {logits.shape[-1]}")
    return inverse_scalar_transform(categorical_expectation(logits, support_size), eps)

"""Sampling K joint actions per node from a product of per-agent distributions, and merging duplicates.

Sampling is inverse-CDF on uniforms drawn outside the simulation step, so the step itself holds
no RNG state (CUDA-graph safe) and a search is a pure function of the generator's stream.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass
class SampledChildren:
    """The distinct joint actions of one node per root, compacted to the front in draw order."""

    actions: Tensor     # long [B, K, N]
    valid: Tensor       # bool [B, K]
    beta_hat: Tensor    # [B, K], count / K (0 on empty slots)
    log_beta: Tensor    # [B, K], sum_i log beta_i(a_i)
    log_pi: Tensor      # [B, K], sum_i log pi_i(a_i)
    prior: Tensor       # [B, K], (beta_hat / beta) * pi (Sampled MuZero)


def masked_normalise(probs: Tensor, legal: Tensor, floor: float) -> Tensor:
    """Zero illegal actions, give every legal one at least ``floor`` mass, renormalise (reference rule)."""
    legal_f = legal.to(probs.dtype)
    masked = probs * legal_f + legal_f * floor
    return masked / masked.sum(-1, keepdim=True)


def dirichlet_noise(shape: tuple[int, ...], alpha: float, generator: torch.Generator) -> Tensor:
    """Dirichlet(alpha) over the last axis; numpy's sampler seeded from the caller's torch generator."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    gamma = np.random.default_rng(seed).standard_gamma(alpha, size=shape)
    return torch.from_numpy(gamma).float()


def root_distributions(
    logits: Tensor, legal: Tensor, noise: Tensor | None, exploration_fraction: float, floor: float,
    temperature: float,
) -> tuple[Tensor, Tensor]:
    """(pi, beta) at the root [B, N, A]: the masked, noised prior and the sampling distribution.

    pi carries the noise (as MuZero noises the prior), so with tau=1 beta == pi and the
    pUCT prior equals beta_hat exactly, as in the reference.
    """
    probs = masked_normalise(torch.softmax(logits.float(), dim=-1), legal, floor)
    if noise is not None:
        eta = masked_normalise(noise.to(probs.device), legal, floor)
        probs = masked_normalise((1.0 - exploration_fraction) * probs + exploration_fraction * eta, legal, 0.0)
    return probs, tempered(probs, temperature) * legal.to(probs.dtype)


def tempered(probs: Tensor, temperature: float) -> Tensor:
    """probs^(1/tau), renormalised; the identity for tau=1 (kept bit-exact)."""
    if temperature == 1.0:
        return probs
    powered = probs.pow(1.0 / temperature)
    return powered / powered.sum(-1, keepdim=True)


def inverse_cdf_sample(probs: Tensor, uniforms: Tensor) -> Tensor:
    """Index per (root, agent, draw) [B, N, K] from probs [B, N, A] and uniforms [B, N, K] in [0, 1).

    Dividing by the last CDF entry makes the last positive-mass action's CDF exactly 1.0,
    so zero-mass (illegal) actions can never be drawn, even after rounding.
    """
    cdf = probs.cumsum(-1)
    cdf = cdf / cdf[..., -1:]
    idx = torch.searchsorted(cdf.contiguous(), uniforms.contiguous(), right=True)
    return idx.clamp_(max=probs.shape[-1] - 1)


def joint_codes(draws: Tensor, n_actions: int) -> Tensor | None:
    """Exact integer code of each joint action when A**N fits in int64, else None (compare tuples)."""
    n_agents = draws.shape[-1]
    if n_actions ** n_agents >= 2**62:
        return None
    radix = n_actions ** torch.arange(n_agents, device=draws.device)       # a kernel, not a host copy
    return (draws * radix).sum(-1)


def merge_duplicates(draws: Tensor, n_actions: int) -> tuple[Tensor, Tensor, Tensor]:
    """(order, counts, num_unique) for draws [B, K, N].

    ``order`` puts the first occurrence of each distinct joint action first, in draw order, so the
    child order carries no preference for low action indices; counts[b, k] is the multiplicity of
    draw k. Joint actions are compared element-wise (no hash key that could overflow).
    """
    k = draws.shape[1]
    codes = joint_codes(draws, n_actions)
    if codes is None:
        equal = (draws.unsqueeze(2) == draws.unsqueeze(1)).all(-1)                  # [B, K, K]
    else:
        equal = codes.unsqueeze(2) == codes.unsqueeze(1)
    earlier = torch.ones(k, k, dtype=torch.bool, device=draws.device).tril(-1)
    is_first = ~(equal & earlier).any(-1)
    counts = equal.sum(-1)
    order = torch.sort((~is_first).to(torch.uint8), dim=1, stable=True).indices
    return order, counts, is_first.sum(-1)


def sample_children(pi: Tensor, beta: Tensor, uniforms: Tensor) -> SampledChildren:
    """Draw K joint actions from prod_i beta_i, merge duplicates, and attach the Sampled MuZero prior."""
    batch, n_agents, _ = beta.shape
    k = uniforms.shape[-1]
    draws = inverse_cdf_sample(beta, uniforms)                                     # [B, N, K]
    log_beta = torch.log(beta).gather(2, draws).sum(1)                             # [B, K]
    log_pi = torch.log(pi).gather(2, draws).sum(1)
    draws = draws.transpose(1, 2)                                                  # [B, K, N]
    order, counts, num_unique = merge_duplicates(draws, beta.shape[-1])
    actions = draws.gather(1, order.unsqueeze(-1).expand(batch, k, n_agents))
    valid = torch.arange(k, device=beta.device).unsqueeze(0) < num_unique.unsqueeze(1)
    beta_hat = torch.where(valid, counts.gather(1, order).to(beta.dtype) / k, torch.zeros((), device=beta.device))
    log_beta = log_beta.gather(1, order)
    log_pi = log_pi.gather(1, order)
    prior = beta_hat * torch.exp(torch.where(valid, log_pi - log_beta, torch.zeros((), device=beta.device)))
    return SampledChildren(actions, valid, beta_hat, log_beta, log_pi, prior)

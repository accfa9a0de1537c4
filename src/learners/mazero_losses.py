"""Pure loss and target functions of the MAZero learner (paper sections 4.3-4.4, eq. 13-14;
reference notes section 3). Every function is shape-generic over leading batch axes ("...") and
returns per-sample losses; the learner weights them (importance sampling) and reduces.

Notation: a "sampled joint action set" is the root's children T(s): joint_actions [..., M, N]
(M slots, N agents), with omega [..., M] (search policy, visit fractions), action_mask [..., M]
(True = real child, False = padding) and advantages [..., M] (optimistic A from OS(lambda)).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

STANDARDISE_EPS = 1e-8


# -- reward / value / consistency ------------------------------------------------------------

def categorical_cross_entropy(logits: Tensor, target_probs: Tensor) -> Tensor:
    """-sum_c target_c log softmax(logits)_c over the last axis -> [...]; fp32 log-softmax."""
    return -(target_probs.float() * F.log_softmax(logits.float(), dim=-1)).sum(-1)


def negative_cosine_similarity(
    prediction: Tensor, target: Tensor, agent_mask: Tensor | None = None
) -> Tensor:
    """SimSiam consistency loss -cos(prediction, stopgrad(target)), in [-1, 1].

    [..., D] -> [...]; per-agent features [..., N, D] with agent_mask [..., N] -> mean over alive
    agents [...] (0 where none is alive). The target branch never receives a gradient.
    """
    cosine = F.cosine_similarity(prediction.float(), target.detach().float(), dim=-1, eps=1e-5)
    if agent_mask is None:
        return -cosine
    weights = agent_mask.to(cosine.dtype)
    return -(cosine * weights).sum(-1) / weights.sum(-1).clamp(min=1.0)


def scale_gradient(x: Tensor, scale: float) -> Tensor:
    """Identity forward, gradient multiplied by `scale` backward (MuZero halves the latent's
    gradient at each unroll step; the reference does it with a hook)."""
    return x * scale + x.detach() * (1.0 - scale)


# -- policy ---------------------------------------------------------------------------------

def joint_log_prob(
    policy_logits: Tensor, joint_actions: Tensor, agent_mask: Tensor | None = None
) -> Tensor:
    """log pi(a) = sum_i log softmax(P(s^i))[a^i] for each sampled joint action -> [..., M].

    policy_logits [..., N, A], joint_actions int [..., M, N]. agent_mask [..., N] (optional) drops
    dead agents from the sum; the reference sums over all agents (dead ones take the no-op).
    Out-of-range action ids (padding) are read as action 0; mask those slots in the caller.
    """
    log_probs = F.log_softmax(policy_logits.float(), dim=-1)  # [..., N, A]
    n_slots = joint_actions.shape[-2]
    expanded = log_probs.unsqueeze(-3).expand(*log_probs.shape[:-2], n_slots, *log_probs.shape[-2:])
    safe_actions = joint_actions.long().clamp(min=0, max=policy_logits.shape[-1] - 1)
    per_agent = expanded.gather(-1, safe_actions.unsqueeze(-1)).squeeze(-1)  # [..., M, N]
    if agent_mask is not None:
        per_agent = per_agent * agent_mask.unsqueeze(-2).to(per_agent.dtype)
    return per_agent.sum(-1)


def weighted_policy_loss(
    policy_logits: Tensor,
    joint_actions: Tensor,
    omega: Tensor,
    action_mask: Tensor,
    weights: Tensor | None = None,
    agent_mask: Tensor | None = None,
) -> Tensor:
    """-sum_{a in T(s)} omega(a) w(a) log pi(a) -> [...]. weights None is BC (w = 1)."""
    coefficient = omega.float() if weights is None else omega.float() * weights.detach().float()
    coefficient = torch.where(action_mask.bool(), coefficient, torch.zeros_like(coefficient))
    return -(coefficient * joint_log_prob(policy_logits, joint_actions, agent_mask)).sum(-1)


def bc_policy_loss(
    policy_logits: Tensor,
    joint_actions: Tensor,
    omega: Tensor,
    action_mask: Tensor,
    agent_mask: Tensor | None = None,
) -> Tensor:
    """Sampled-MuZero behaviour cloning: -sum_a omega(a) sum_i log pi_i(a_i) -> [...]."""
    return weighted_policy_loss(policy_logits, joint_actions, omega, action_mask, None, agent_mask)


def standardise_advantages(advantages: Tensor, action_mask: Tensor) -> Tensor:
    """(A - mean) / std over all valid entries of the whole batch (reference, not in the paper);
    padding stays 0. Population std; a constant batch becomes all zeros."""
    valid = action_mask.bool()
    values = advantages.float()
    count = valid.sum().clamp(min=1)
    mean = torch.where(valid, values, 0.0).sum() / count
    variance = torch.where(valid, (values - mean) ** 2, 0.0).sum() / count
    standardised = (values - mean) / (variance.sqrt() + STANDARDISE_EPS)
    return torch.where(valid, standardised, torch.zeros_like(standardised))


def awpo_weights(
    advantages: Tensor,
    action_mask: Tensor,
    alpha: float,
    standardise: bool = False,
    clip: float | None = None,
) -> Tensor:
    """AWPO weights exp(A/alpha) (paper eq. 14), detached; padding gets 0.

    Reference options: `standardise` the advantages over the batch first, and `clip` the weight
    from above (min(w, clip)). alpha = inf gives w = 1 everywhere, i.e. BC.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    valid = action_mask.bool()
    scores = standardise_advantages(advantages, valid) if standardise else advantages.float()
    if math.isinf(alpha):
        weights = torch.ones_like(scores)
    else:
        weights = torch.exp(torch.where(valid, scores, 0.0) / alpha)
    if clip is not None:
        weights = weights.clamp(max=clip)
    return torch.where(valid, weights, torch.zeros_like(weights)).detach()


def awpo_target(
    omega: Tensor, advantages: Tensor, action_mask: Tensor, alpha: float, standardise: bool = False
) -> Tensor:
    """eta*(a) = omega(a) exp(A(a)/alpha) / Z(s) over each root's sampled set (paper eq. 11-12,
    the distribution AWPO's KL derivation projects onto) -> [..., M], sums to 1 per root.

    Computed in log space, so it is exact for any scale of A; a root without a valid child gets 0.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    valid = action_mask.bool() & (omega > 0)
    scores = standardise_advantages(advantages, action_mask.bool()) if standardise else advantages.float()
    logits = torch.where(valid, omega.float().clamp(min=1e-30).log() + scores / alpha, -math.inf)
    has_child = valid.any(-1, keepdim=True)
    target = torch.softmax(torch.where(has_child, logits, 0.0), dim=-1)
    return torch.where(has_child & valid, target, torch.zeros_like(target)).detach()


def awpo_policy_loss(
    policy_logits: Tensor,
    joint_actions: Tensor,
    omega: Tensor,
    action_mask: Tensor,
    advantages: Tensor,
    alpha: float,
    standardise: bool = False,
    clip: float | None = None,
    agent_mask: Tensor | None = None,
    normalise: bool = False,
) -> Tensor:
    """AWPO (paper eq. 14): -sum_a omega(a) exp(A(a)/alpha) log pi(a) -> [...].

    `standardise` normalises over every valid entry of the tensors passed in, so pass the whole
    training batch ([B, K+1, M]) in one call to match the reference. `normalise` divides each
    root's weights by Z(s) = sum_a omega(a) exp(A(a)/alpha), i.e. the cross-entropy to eta* of
    the paper's derivation (eq. 11-12): bounded whatever the scale of A (eq. 14's unnormalised
    weights grow as exp(A/alpha) and, after gradient clipping, can starve the other losses).
    `clip` does not apply with `normalise`.
    """
    if normalise:
        target = awpo_target(omega, advantages, action_mask, alpha, standardise)
        return weighted_policy_loss(policy_logits, joint_actions, target, action_mask, None, agent_mask)
    weights = awpo_weights(advantages, action_mask, alpha, standardise, clip)
    return weighted_policy_loss(policy_logits, joint_actions, omega, action_mask, weights, agent_mask)


# -- targets and priorities -----------------------------------------------------------------

def n_step_value_targets(
    rewards: Tensor,
    bootstrap_values: Tensor,
    steps_left: Tensor,
    n_steps: int,
    discount: float,
    truncated: Tensor | None = None,
    td_steps: Tensor | None = None,
) -> Tensor:
    """n-step value targets at the K+1 unroll positions of each sampled start t -> [B, K+1].

        z_{t+k} = sum_{i < n} gamma^i u_{t+k+i} + gamma^n v(o_{t+k+n})

    with the end-of-episode rule (reference section 3.2): rewards at or past T count 0; the
    bootstrap is 0 when t+k+n >= T; z = 0 for t+k >= T. For an episode cut by a time limit
    (`truncated`), the bootstrap instead comes from the final observation o_T, discounted by
    gamma^(T-t-k), whenever t+k < T.

    rewards [B, K+n]: u_{t+j}; bootstrap_values [B, K+n+1]: v(o_{t+j}) (only entries j <= T-t are
    read); steps_left [B] = T - t >= 1; n_steps: the configured n, which fixes the layout;
    truncated bool [B] or None (all terminal); td_steps int [B] in 0..n_steps or None: a shorter n
    per sample (0: z = v(o_{t+k}) itself) (the reference's off-policy correction for old data, `off_policy_td_steps`).
    """
    batch, reward_columns = rewards.shape
    n_targets = reward_columns - n_steps + 1
    if n_targets < 1 or bootstrap_values.shape != (batch, reward_columns + 1):
        raise ValueError(
            f"expected rewards [B, K+n] and bootstrap_values [B, K+n+1]; got {tuple(rewards.shape)}, "
            f"{tuple(bootstrap_values.shape)} with n={n_steps}"
        )
    device = rewards.device
    per_sample = torch.full((batch,), n_steps, device=device) if td_steps is None else td_steps.to(device)
    n_per_sample = per_sample.long().clamp(min=0, max=n_steps)[:, None]  # [B, 1]
    left = steps_left.to(device).long()[:, None]  # [B, 1]
    k = torch.arange(n_targets, device=device)[None, :]  # [1, K+1]
    i = torch.arange(n_steps, device=device)  # [n]

    reward_index = k[..., None] + i  # [1, K+1, n]
    counted = (i < n_per_sample[..., None]) & (reward_index < left[..., None])
    discounts = discount ** i.to(torch.float64)
    flat_index = reward_index.expand(batch, -1, -1).flatten(1)
    gathered = rewards.double().gather(1, flat_index).view(batch, n_targets, n_steps)
    reward_sum = (torch.where(counted, gathered, 0.0) * discounts).sum(-1)  # [B, K+1]

    horizon = torch.minimum(n_per_sample, left - k)  # steps until the bootstrap observation
    bootstrap_index = (k + horizon).clamp(min=0, max=reward_columns)
    bootstrap = bootstrap_values.double().gather(1, bootstrap_index)
    is_truncated = (
        torch.zeros(batch, 1, dtype=torch.bool, device=device)
        if truncated is None else truncated.to(device).bool()[:, None]
    )
    use_bootstrap = (k + n_per_sample < left) | (is_truncated & (k < left))
    bootstrap_term = torch.where(use_bootstrap, discount ** horizon.double() * bootstrap, 0.0)

    inside = k < left
    return torch.where(inside, reward_sum + bootstrap_term, 0.0).to(rewards.dtype)


def off_policy_td_steps(age: Tensor, auto_td_steps: int, max_td_steps: int = 5, min_td_steps: int = 1) -> Tensor:
    """Reference off-policy correction: n = clip(max - age // auto_td_steps, min, max), where age is
    the number of transitions collected since the sampled one. The reference stops at min = 1;
    min = 0 lets the oldest data fall back to the target model's value of the position itself
    (no behaviour-policy rewards at all, as MuZero Reanalyse does for stale data)."""
    return (max_td_steps - age.long() // auto_td_steps).clamp(min=min_td_steps, max=max_td_steps)


def value_priorities(predicted_values: Tensor, target_values: Tensor, eps: float = 1e-6) -> Tensor:
    """New replay priority |v_pred(k=0) - z_0| + eps (reference section 3.5), detached."""
    return ((predicted_values.detach().float() - target_values.detach().float()).abs() + eps)

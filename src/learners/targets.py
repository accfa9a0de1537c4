"""The maths shared by the value-based and policy-gradient learners, as pure functions.

Shapes: B episodes, T transitions (the batch holds T+1 slots; slot T is the terminal or last
observation), X any trailing dims (agents, or 1 for a joint value). `rewards`,
`terminated` and `mask` are [B, T, 1] (broadcast over X); `values` are [B, T+1, X] estimates
of every slot. `mask[t]` is 1 for real transitions that follow no terminal step
(`valid_transition_mask`); a return never looks past a terminal step or the end of its
episode: at the last real transition it bootstraps from `values[t+1]` unless terminated.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn


# ---------------------------------------------------------------- masks and reductions
def valid_transition_mask(filled: torch.Tensor, terminated: torch.Tensor) -> torch.Tensor:
    """[B, T+1, 1] filled/terminated -> float mask [B, T, 1] of transitions that train.

    Slot t is a transition when it is filled, no terminal step precedes it, and its successor
    slot is filled or it is itself terminal: the final-observation slot of an episode that
    ended without termination (a non-terminal time-out) is not a transition."""
    filled, terminated = filled.float(), terminated.float()
    mask = filled[:, :-1] * torch.maximum(filled[:, 1:], terminated[:, :-1])
    mask[:, 1:] = mask[:, 1:] * (1.0 - terminated[:, :-2])
    return mask


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `x` over the entries where the (broadcast) mask is 1; 0 for an empty mask."""
    mask = mask.expand_as(x).to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def choice_mask(avail_actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, T, N]: valid steps where the agent has more than one available action. On SMAC/SMAX a
    dead agent has only its no-op; MAPPO's active masks leave such steps out of its losses."""
    return mask * (avail_actions.sum(dim=-1) > 1).to(mask.dtype)


def gather_actions(values: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """values [..., A], actions [..., 1] long -> [...]."""
    return torch.gather(values, dim=-1, index=actions.long()).squeeze(-1)


def greedy_actions(values: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """Argmax over available actions [..., 1] (learning targets only; acting breaks ties randomly)."""
    return values.masked_fill(avail == 0, float("-inf")).argmax(dim=-1, keepdim=True)


def bootstrap_actions(online: torch.Tensor, target: torch.Tensor, avail: torch.Tensor, double_q: bool) -> torch.Tensor:
    """The actions a target bootstraps from [..., 1]: double Q picks them with the online net
    (van Hasselt et al. 2016), plain Q-learning with the target net itself."""
    return greedy_actions(online.detach() if double_q else target, avail)


def available_max(values: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """max over available actions [...]; rows with no available action give 0, not -inf."""
    best = values.masked_fill(avail == 0, float("-inf")).max(dim=-1).values
    return torch.where(torch.isfinite(best), best, torch.zeros_like(best))


def interval_transitions(rewards: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor,
                         interval: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Groups [B, T, 1] transitions into [B, ceil(T/k), 1] macro-transitions of `interval` steps.

    A macro-transition starts at t = 0, k, 2k, ...: its reward is the sum of the valid rewards
    inside it, it is terminal when any step inside is, and it trains when its first step does
    (options/roles chosen every k steps, as in RODE's role mixer)."""
    n_steps = rewards.shape[1]
    pad = -n_steps % interval

    def grouped(x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x, torch.zeros_like(x[:, :pad])], dim=1) if pad else x
        return x.reshape(x.shape[0], -1, interval, *x.shape[2:])

    macro_rewards = grouped(rewards * mask).sum(dim=2)
    macro_terminated = grouped(terminated.float() * mask).amax(dim=2)
    return macro_rewards, macro_terminated, mask[:, ::interval]



def decision_slots(values: torch.Tensor, interval: int, n_macro: int) -> torch.Tensor:
    """values [B, T+1, ...] at the slots 0, k, ..., n_macro * k where macro-transitions start and
    bootstrap: [B, n_macro + 1, ...]; slots past the end of the batch are zero."""
    needed = n_macro * interval + 1
    if values.shape[1] < needed:
        pad = values.new_zeros(values.shape[0], needed - values.shape[1], *values.shape[2:])
        values = torch.cat([values, pad], dim=1)
    return values[:, :needed:interval]

# --------------------------------------------------------------------------- returns
def lambda_returns(rewards: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor,
                   values: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """TD(lambda) targets [B, T, X]: G_t = r_t + g(1-d_t)[V_{t+1} + lam m_{t+1}(G_{t+1} - V_{t+1})].

    lam = 0 is the one-step target, lam = 1 the Monte-Carlo return bootstrapped at the end
    of the sampled window. The first slot of `values` is unused."""
    n_steps = rewards.shape[1]
    not_done = 1.0 - terminated.float()
    next_mask = torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)
    returns = torch.zeros_like(values[:, 1:])
    following = values[:, n_steps]
    for t in reversed(range(n_steps)):
        v_next = values[:, t + 1]
        bootstrap = v_next + lam * next_mask[:, t] * (following - v_next)
        returns[:, t] = rewards[:, t] + gamma * not_done[:, t] * bootstrap
        following = returns[:, t]
    return returns


def gae_advantages(rewards: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor,
                   values: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """GAE(gamma, lam) advantages [B, T, X]; the lambda-return minus V_t (Schulman et al. 2016)."""
    return lambda_returns(rewards, terminated, mask, values, gamma, lam) - values[:, :-1]


def nstep_returns(rewards: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor,
                  values: torch.Tensor, gamma: float, n: int) -> torch.Tensor:
    """n-step returns [B, T, X]: sum_{k<n} g^k r_{t+k} + g^n V_{t+n}, cut short by terminals and episode ends."""
    n_steps = rewards.shape[1]
    not_done = 1.0 - terminated.float()
    next_mask = torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)
    returns = torch.zeros_like(values[:, 1:])
    for t in range(n_steps):
        live = torch.ones_like(values[:, 0])
        for k in range(min(n, n_steps - t)):
            step = t + k
            ends = next_mask[:, step] if k < n - 1 else torch.zeros_like(next_mask[:, step])
            ends = 1.0 - ends  # 1 where the sum stops after this step
            returns[:, t] += live * gamma**k * rewards[:, step]
            returns[:, t] += live * ends * gamma ** (k + 1) * not_done[:, step] * values[:, step + 1]
            live = live * (1.0 - ends)
    return returns


# ------------------------------------------------------------------ losses and scaling
def ppo_clip_loss(ratio: torch.Tensor, advantages: torch.Tensor, eps_clip: float) -> torch.Tensor:
    """Per-entry negative clipped surrogate -min(r A, clip(r, 1-eps, 1+eps) A) (Schulman et al. 2017)."""
    return -torch.min(ratio * advantages, ratio.clamp(1.0 - eps_clip, 1.0 + eps_clip) * advantages)


def value_error(error: torch.Tensor, huber_delta: float | None) -> torch.Tensor:
    """Per-entry critic loss: Huber with `huber_delta` (official MAPPO), or 0.5 * squared error."""
    if huber_delta is None:
        return 0.5 * error.pow(2)
    return nn.functional.huber_loss(error, torch.zeros_like(error), reduction="none", delta=huber_delta)


def policy_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy of categorical policies [..., A] -> [...]; masked (zero) actions contribute 0."""
    return -(probs * torch.log(probs.clamp_min(1e-10))).sum(dim=-1)


def update_moments(moments: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Running [mean, var, count] updated with the masked entries of `x` (Chan et al.'s parallel formula)."""
    mask = mask.expand_as(x).to(x.dtype)
    n = mask.sum()
    if n <= 0:
        return moments
    mean_b = (x * mask).sum() / n
    var_b = (((x - mean_b) ** 2) * mask).sum() / n
    mean, var, count = moments[0], moments[1], moments[2]
    total = count + n
    delta = mean_b - mean
    new_mean = mean + delta * n / total
    new_var = (var * count + var_b * n + delta**2 * count * n / total) / total
    return torch.stack([new_mean, new_var, total])


def standardise(x: torch.Tensor, moments: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return (x - moments[0]) / torch.sqrt(moments[1] + eps)


def unstandardise(x: torch.Tensor, moments: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return x * torch.sqrt(moments[1] + eps) + moments[0]


def initial_moments(device: str | torch.device = "cpu") -> torch.Tensor:
    """[mean 0, var 1, count 0]: standardising with these is the identity up to eps."""
    return torch.tensor([0.0, 1.0, 0.0], device=device)


# ------------------------------------------------------------------- target networks
def hard_update(target: nn.Module, source: nn.Module) -> None:
    target.load_state_dict(source.state_dict())


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau source, parameter by parameter (buffers are copied)."""
    for t_param, s_param in zip(target.parameters(), source.parameters()):
        t_param.lerp_(s_param, tau)
    for t_buf, s_buf in zip(target.buffers(), source.buffers()):
        t_buf.copy_(s_buf)


def update_targets(pairs: Iterable[tuple[nn.Module, nn.Module]], mode: str, interval: int, tau: float,
                   episode: int, last_update_episode: int) -> int:
    """Applies the configured target update to (target, source) pairs; returns the new last-update episode.

    hard: copy once `interval` episodes have passed since the last copy; soft: Polyak every call."""
    if mode == "soft":
        for target, source in pairs:
            soft_update(target, source, tau)
        return episode
    if episode - last_update_episode >= interval:
        for target, source in pairs:
            hard_update(target, source)
        return episode
    return last_update_episode

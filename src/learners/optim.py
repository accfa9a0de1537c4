"""Optimiser construction from the common config keys, shared by every learner."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


def make_optimiser(params: Iterable[torch.nn.Parameter], args: Any) -> torch.optim.Optimizer:
    """RMSprop (pymarl's SMAC-paper QMIX: alpha 0.99, eps 1e-5) or Adam (official MAPPO: eps 1e-5)."""
    params = list(params)
    if args.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=args.lr, alpha=args.optim_alpha, eps=args.optim_eps)
    return torch.optim.Adam(params, lr=args.lr, eps=args.optim_eps)


def clip_and_step(optimiser: torch.optim.Optimizer, params: Iterable[torch.nn.Parameter], max_norm: float,
                  clip_groups: list[list[torch.nn.Parameter]] | None = None) -> float:
    """Clips the gradient norm, steps, and returns the pre-clipping norm (logged as grad_norm).

    With `clip_groups`, each group is clipped to `max_norm` on its own (the logged norm is still
    the norm over all of them), so one group's large gradient does not shrink another's step."""
    params = list(params)
    if clip_groups is None:
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    else:
        norm = torch.stack([torch.nn.utils.clip_grad_norm_(group, max_norm) for group in clip_groups]).norm()
    optimiser.step()
    return float(norm)


def linear_decay(base: float, t_env: int, t_max: int) -> float:
    """base * (1 - t_env / t_max), floored at 0 (JaxMARL's ANNEAL_LR, on-policy's use_linear_lr_decay)."""
    return base * max(0.0, 1.0 - t_env / t_max)


def set_lr(optimiser: torch.optim.Optimizer, lr: float) -> None:
    for group in optimiser.param_groups:
        group["lr"] = lr

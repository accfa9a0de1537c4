"""Stops a run whose training has diverged, before its non-finite weights reach a checkpoint."""
from __future__ import annotations

import math
from typing import Any, Iterator

import torch

WATCHED_STATS = ("loss", "grad_norm", "pg_loss", "critic_loss")  # where present in a learner's stats


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss, gradient norm, priority or weight; nothing after it is
    worth saving. Code that does not know the env step (a replay) leaves `t_env` to the loop."""

    def __init__(self, what: str, t_env: int | None = None) -> None:
        super().__init__(what, t_env)
        self.what = what
        self.t_env = t_env

    def __str__(self) -> str:
        where = f" at t_env={self.t_env}" if self.t_env is not None else ""
        return f"training diverged: {self.what}{where}"


def check_finite_stats(stats: dict[str, Any], t_env: int) -> None:
    """Raises on the first watched stat that is NaN or infinite, naming it and the env step."""
    for key in WATCHED_STATS:
        value = stats.get(key)
        if value is not None and not math.isfinite(float(value)):
            raise DivergenceError(f"{key}={float(value)}", t_env)


def float_tensors(state: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every floating-point tensor of a nested state (dicts, lists, tuples), with its path."""
    if isinstance(state, torch.Tensor):
        if state.is_floating_point():
            yield prefix, state
    elif isinstance(state, dict):
        for key, value in state.items():
            yield from float_tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(state, (list, tuple)):
        for i, value in enumerate(state):
            yield from float_tensors(value, f"{prefix}[{i}]")


def check_finite_state(state: Any, t_env: int) -> None:
    """Raises if any weight or optimiser moment is NaN or infinite (a step can blow up the weights
    while the loss it reported was still finite)."""
    for name, tensor in float_tensors(state):
        if not bool(torch.isfinite(tensor).all()):
            raise DivergenceError(f"non-finite values in learner state '{name}'", t_env)

"""How many learner updates are due: the update cadence as a pure function of counters."""
from __future__ import annotations


def updates_due(t_env: int, updates_done: int, updates_per_rollout: int, updates_per_env_step: float | None) -> int:
    """Updates to run after the rollout that brought the run to `t_env` environment steps.

    With `updates_per_env_step` set, the total number of updates tracks `ratio * t_env`
    (the reference MAZero's 0.5 updates per env step), independently of how many environments run in
    parallel; otherwise a fixed number of updates follows each rollout (pymarl)."""
    if updates_per_env_step is None:
        return updates_per_rollout
    return max(0, int(updates_per_env_step * t_env) - updates_done)

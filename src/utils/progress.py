"""The compact periodic progress line."""
from __future__ import annotations

import datetime

from utils.logging import Logger


def progress_line(logger: Logger, t_env: int, t_max: int, elapsed_s: float) -> str:
    """`t_env 12,000/50,000 (24%) | 850 steps/s | ETA 0:00:45 | test win 0.62 | test return 13.2`

    The rate is the run's average (env steps per second of wall-clock), so the ETA is stable."""
    rate = t_env / elapsed_s if elapsed_s > 0 else 0.0
    eta = datetime.timedelta(seconds=int(max(t_max - t_env, 0) / rate)) if rate > 0 else "?"
    parts = [f"t_env {t_env:,}/{t_max:,} ({100 * t_env / t_max:.0f}%)",
             f"{rate:.0f} steps/s", f"ETA {eta}"]
    win = logger.latest("test_battle_won_mean")
    if win is not None:
        parts.append(f"test win {win:.2f}")
    test_return = logger.latest("test_return_mean")
    if test_return is not None:
        parts.append(f"test return {test_return:.2f}")
    return " | ".join(parts)

"""One `log_stat` call feeds the console summary, TensorBoard and sacred."""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import numpy as np


def get_console_logger(name: str = "mazero") -> logging.Logger:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(levelname)s %(asctime)s] %(name)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


class Logger:
    """Collects (t_env, value) per key and fans each value out to every enabled sink.

    Sacred gets both `_run.log_scalar` (metrics.json) and pymarl's `info.json` lists
    (`key` and `key_T`), so existing pymarl plotting scripts keep working."""

    def __init__(self, console: logging.Logger):
        self.console = console
        self.stats: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self._sacred_run: Any = None
        self._tb_writer: Any = None

    def setup_sacred(self, sacred_run: Any) -> None:
        self._sacred_run = sacred_run

    def setup_tensorboard(self, directory: str) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._tb_writer = SummaryWriter(log_dir=directory)

    def log_stat(self, key: str, value: float, t: int) -> None:
        value = float(value)
        self.stats[key].append((t, value))
        if self._tb_writer is not None:
            self._tb_writer.add_scalar(key, value, t)
        if self._sacred_run is not None:
            info = self._sacred_run.info
            info.setdefault(key, []).append(value)
            info.setdefault(f"{key}_T", []).append(t)
            self._sacred_run.log_scalar(key, value, t)

    def latest(self, key: str, default: float | None = None) -> float | None:
        return self.stats[key][-1][1] if self.stats.get(key) else default

    def print_recent_stats(self) -> None:
        """Prints the mean of the last few values of every key, one aligned block."""
        if "episode" not in self.stats:
            return
        t, episode = self.stats["episode"][-1]
        lines = [f"Recent stats | t_env: {t:>10} | episode: {int(episode):>8}"]
        items = []
        for key in sorted(k for k in self.stats if k != "episode"):
            window = 5 if key != "epsilon" else 1
            items.append(f"{key + ':':<28}{np.mean([v for _, v in self.stats[key][-window:]]):>10.4f}")
        for i in range(0, len(items), 4):
            lines.append("  ".join(items[i : i + 4]))
        self.console.info("\n".join(lines))

    def close(self) -> None:
        if self._tb_writer is not None:
            self._tb_writer.close()

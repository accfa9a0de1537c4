"""Per-episode records averaged into pymarl's metric keys (`return_mean`, `battle_won_mean`, ...)."""
from __future__ import annotations

import numpy as np

from utils.logging import Logger


class EpisodeStats:
    def __init__(self) -> None:
        self.episodes: list[dict[str, float]] = []

    @property
    def count(self) -> int:
        return len(self.episodes)

    def add(self, episodes: list[dict[str, float]]) -> None:
        self.episodes.extend(episodes)

    def summary(self) -> dict[str, float]:
        """Mean of every numeric key over the stored episodes, plus the return's std."""
        if not self.episodes:
            return {}
        keys = sorted({k for e in self.episodes for k in e})
        out = {f"{k}_mean": float(np.mean([e.get(k, 0.0) for e in self.episodes])) for k in keys}
        out["return_std"] = float(np.std([e["return"] for e in self.episodes]))
        return out

    def log(self, logger: Logger, prefix: str, t_env: int) -> None:
        for key, value in self.summary().items():
            logger.log_stat(prefix + key, value, t_env)
        self.episodes.clear()

"""SMAC-style episode counters, shared by the SMAX and StarCraft II backends and by vec envs."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Counters that add up across environments; every other stat is a per-env constant.
ADDITIVE_STATS = ("battles_won", "battles_game", "battles_draw", "timeouts", "restarts", "episodes")


@dataclass
class BattleStats:
    """The counters SMAC's `get_stats()` reports."""

    battles_won: int = 0
    battles_game: int = 0
    battles_draw: int = 0
    timeouts: int = 0
    restarts: int = 0

    def record(self, won: bool, draw: bool, timeout: bool) -> None:
        self.battles_game += 1
        self.battles_won += int(won)
        self.battles_draw += int(draw)
        self.timeouts += int(timeout)

    def as_dict(self) -> dict[str, Any]:
        return {
            "battles_won": self.battles_won,
            "battles_game": self.battles_game,
            "battles_draw": self.battles_draw,
            "win_rate": self.battles_won / max(self.battles_game, 1),
            "timeouts": self.timeouts,
            "restarts": self.restarts,
        }


def merge_stats(stats: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sums the additive counters of several envs, keeps the first value of the others,
    and recomputes `win_rate` from the summed counters."""
    merged: dict[str, Any] = {}
    for s in stats:
        for key, value in s.items():
            if key in merged and key in ADDITIVE_STATS:
                merged[key] += value
            else:
                merged.setdefault(key, value)
    if "battles_game" in merged:
        merged["win_rate"] = merged.get("battles_won", 0) / max(merged["battles_game"], 1)
    return merged

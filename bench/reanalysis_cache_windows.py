"""How the reanalysis cache's work changes over a MAZero run, read from its sacred records.

The learner logs running totals (`reanalyse_positions_total`, `reanalyse_cached_total`,
`reanalyse_wait_s_total`) at every log step; differences between consecutive log steps give, per
window of env steps, the cache's hit rate, the positions searched per 1,000 env steps and the
seconds the learner waited for targets per 1,000 env steps; where the run logged them, also the
wall-clock per 1,000 env steps (`wall_time`, interpolated at the window's ends; none for a window
that reaches outside the steps wall_time was logged at) and the seconds
the learner spent on its own share of the searches (`reanalyse_local_s_total`, with
`reanalyse_local_above`). A resumed run starts its totals (and its cache) from zero, so each
sacred record is read on its own.

    python bench/reanalysis_cache_windows.py docs/runs/smax_sweep/3m/reference/sacred/mazero_reference/sc2-smax_3m/seed3-run1
    python bench/reanalysis_cache_windows.py <run folder> --span 90000 95000   # one row over that range
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOTALS = ("reanalyse_positions_total", "reanalyse_cached_total", "reanalyse_wait_s_total")


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    hit_rate: float
    searched_per_k: float
    wait_s_per_k: float
    wall_s_per_k: float | None = None    # None: no wall_time logged
    local_s_per_k: float | None = None   # None: the run predates reanalyse_local_s_total


def windows(metrics: dict, span: tuple[int, int] | None = None) -> list[Window]:
    """One window per pair of consecutive log steps at which the learner logged all three totals;
    with `span` (from, to), one window from the first of those steps at or after `from` to the last
    at or before `to`."""
    missing = [k for k in TOTALS if k not in metrics]
    if missing:
        raise ValueError(f"no {', '.join(missing)} in these metrics: a run with reanalyse_cache=True logs them")
    series = [dict(zip(metrics[k]["steps"], metrics[k]["values"])) for k in TOTALS]
    steps = sorted(set.intersection(*(set(s) for s in series)))
    if span is not None:
        inside = [t for t in steps if span[0] <= t <= span[1]]
        if len(inside) < 2:
            raise ValueError(f"fewer than two logged steps within {span[0]:,}-{span[1]:,}")
        steps = [inside[0], inside[-1]]
    local = dict(zip(metrics["reanalyse_local_s_total"]["steps"], metrics["reanalyse_local_s_total"]["values"])) \
        if "reanalyse_local_s_total" in metrics else {}
    wall = metrics.get("wall_time")

    def wall_per_k(a: int, b: int) -> float | None:  # only within the logged range: no clamping
        if not wall or not wall["steps"] or a < wall["steps"][0] or b > wall["steps"][-1]:
            return None
        return float(np.diff(np.interp([a, b], wall["steps"], wall["values"]))[0]) * 1000.0 / (b - a)

    out = []
    for a, b in zip(steps, steps[1:]):
        drawn, cached, waited = (s[b] - s[a] for s in series)
        if drawn <= 0:
            continue
        per_k = 1000.0 / (b - a)
        out.append(Window(a, b, cached / drawn, (drawn - cached) * per_k, waited * per_k,
                          wall_per_k(a, b),
                          (local[b] - local[a]) * per_k if a in local and b in local else None))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, nargs="+", help="sacred run folders (holding metrics.json)")
    p.add_argument("--span", type=int, nargs=2, metavar=("FROM", "TO"),
                   help="one row over the logged steps within FROM-TO instead of one per log step")
    args = p.parse_args()
    for run in args.runs:
        print(run.name)
        print("| env steps | cache hit rate | positions searched per 1,000 env steps | learner's wait per 1,000 env steps "
              "| learner's own searches per 1,000 env steps | wall-clock per 1,000 env steps |")
        print("|---|---|---|---|---|---|")
        seconds = lambda x: "-" if x is None else f"{x:.1f} s"  # noqa: E731
        for w in windows(json.loads((run / "metrics.json").read_text()), args.span):
            print(f"| {w.start:,}-{w.end:,} | {w.hit_rate:.2f} | {w.searched_per_k:,.0f} | {w.wait_s_per_k:.1f} s "
                  f"| {seconds(w.local_s_per_k)} | {seconds(w.wall_s_per_k)} |")


if __name__ == "__main__":
    main()

"""Sacred records of a results dir as tidy (long-format) tables.

One row per (run, metric, step): alg, env, map, seed, lineage, label, status, run_dir, metric, step,
value, wall_time. Every plot, aggregate and table reads this one shape, so they agree on which
runs and which numbers they use."""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

COLUMNS = ["alg", "env", "map", "seed", "lineage", "label", "status", "run_dir", "metric", "step", "value", "wall_time"]


@dataclass(frozen=True)
class Run:
    """One sacred run: identity from config.json, status from run.json, series from metrics.json,
    where it saved and what it resumed from in info.json."""

    alg: str
    env: str
    map: str
    seed: int
    label: str
    status: str
    run_dir: Path
    config: dict = field(repr=False, hash=False, compare=False)
    metrics: dict = field(repr=False, hash=False, compare=False)
    info: dict = field(default_factory=dict, repr=False, hash=False, compare=False)


def read_json(path: Path, tries: int = 5) -> Any:
    """Sacred rewrites a live run's json files in place, so a read can meet a half-written file:
    read again shortly before giving up."""
    for attempt in range(tries):
        try:
            with open(path) as f:
                return json.load(f)
        except json.JSONDecodeError as error:
            if attempt == tries - 1:
                raise ValueError(f"{path} is not valid json: {error}") from error
            time.sleep(0.2)


def env_and_map(config: dict) -> tuple[str, str]:
    """The env name (with the backend actually used, e.g. `sc2-smax`) and the map (or gym key)."""
    env_args = config.get("env_args") or {}
    backend = env_args.get("backend")
    env = f"{config['env']}-{backend}" if backend else str(config["env"])
    return env, str(env_args.get("map_name") or env_args.get("key") or "default")


def run_dirs(results_dir: Path) -> list[Path]:
    """Every `sacred/<alg>/<env>_<map>/<id>/` that has a run.json, in a stable order."""
    found = (p.parent for p in Path(results_dir).glob("sacred/*/*/*/run.json"))
    return sorted(found, key=lambda p: (p.parent.parent.name, p.parent.name, int(p.name) if p.name.isdigit() else 0))


def load_run(run_dir: Path) -> Run | None:
    """None when the run left no config yet (it is still starting)."""
    if not (run_dir / "config.json").is_file():
        return None
    config = read_json(run_dir / "config.json")
    status = read_json(run_dir / "run.json").get("status", "UNKNOWN")
    metrics_path = run_dir / "metrics.json"
    metrics = read_json(metrics_path) if metrics_path.is_file() else {}
    info_path = run_dir / "info.json"
    info = read_json(info_path) if info_path.is_file() else {}
    env, map_name = env_and_map(config)
    return Run(alg=str(config.get("name", run_dir.parent.parent.name)), env=env, map=map_name,
               seed=int(config.get("seed", -1)), label=str(config.get("label", "default")), status=status,
               run_dir=run_dir, config=config, metrics=metrics, info=info)


Links = dict[Path, tuple[Run, int | None]]  # run_dir -> (the start it continues, the step it resumed from)


def records_dir(run: Run) -> Path:
    """<results>/sacred/<alg>/<env-map>/<run> -> <results>/sacred: one experiment's records."""
    return run.run_dir.parents[2]


def resumed_step(resumed_from: str) -> int | None:
    """The step of the checkpoint a start loaded: the last all-digit part of its path
    (`.../models/<run>/62600/checkpoint.pt` or `.../models/<run>/62600`)."""
    return next((int(part) for part in reversed(Path(resumed_from).parts) if part.isdigit()), None)


def resume_links(runs: list[Run]) -> Links:
    """run_dir -> (the start it continues, the step of the checkpoint it loaded from it), for every
    resumed start whose predecessor is among `runs`. `info.resumed_from` lies under the
    predecessor's `info.model_dir`, in the same records directory."""
    by_model_dir = {(records_dir(r), str(r.info["model_dir"])): r for r in runs if r.info.get("model_dir")}
    links = {}
    for run in runs:
        resumed_from = run.info.get("resumed_from")
        if not run.info.get("model_dir") or not resumed_from:
            continue
        keys = ((records_dir(run), str(d)) for d in Path(resumed_from).parents)
        earlier = next((by_model_dir[key] for key in keys if key in by_model_dir), None)
        if earlier is not None and earlier.run_dir != run.run_dir:
            links[run.run_dir] = (earlier, resumed_step(resumed_from))
    return links


def starts(run: Run, links: Links) -> list[Run]:
    """`run` and the starts it continues, latest first."""
    chain = [run]
    while chain[-1].run_dir in links and links[chain[-1].run_dir][0] not in chain:
        chain.append(links[chain[-1].run_dir][0])
    return chain


def lineages(runs: list[Run], links: Links) -> dict[Path, str]:
    """run_dir -> the from-scratch run it continues. A resumed run leaves one sacred record per
    start, linked by `resume_links`; following them finds the first start, whose record names the
    lineage. Records without that info (made before it was kept) fall back to one lineage per
    (records directory, alg, env, map, seed). Either way two experiments' seed 1 of one algorithm,
    read together, stay two curves."""
    found = {}
    for run in runs:
        first = starts(run, links)[-1]
        found[run.run_dir] = (f"seed{run.seed}:{records_dir(run)}" if not first.info.get("model_dir")
                              else f"seed{first.seed}:{first.run_dir}")
    return found


def load_runs(results_dir: Path | str, statuses: Iterable[str] | None = ("COMPLETED",)) -> list[Run]:
    """The runs under `results_dir` whose status is one of `statuses` (None: all of them), with the
    earlier starts they continue whatever those starts' status: a run stopped (INTERRUPTED, or still
    RUNNING when its machine went away) and resumed to completion is one finished curve."""
    runs = [r for r in (load_run(d) for d in run_dirs(Path(results_dir))) if r is not None]
    if statuses is None:
        return runs
    keep, links = set(statuses), resume_links(runs)
    wanted = {start.run_dir for r in runs if r.status in keep for start in starts(r, links)}
    return [r for r in runs if r.run_dir in wanted]


def has_completed(results_dir: Path | str, alg: str, map_name: str, seed: int) -> bool:
    """Whether `results_dir` holds a COMPLETED run of (alg, map, seed): a script that runs many short
    runs one after another skips those, so a second start finishes what an interrupted one left."""
    return any(r.alg == alg and r.map == map_name and r.seed == seed and r.status == "COMPLETED"
               for r in load_runs(results_dir))


def wall_clock_at(run: Run, steps: np.ndarray) -> np.ndarray:
    """Wall-clock seconds at `steps`, interpolated from the run's `wall_time` series (NaN if absent).

    Test metrics and wall_time are logged at different t_env, so a vs-time plot needs this."""
    series = run.metrics.get("wall_time")
    if not series or not series["steps"]:
        return np.full(len(steps), np.nan)
    known_steps = np.concatenate([[0.0], np.asarray(series["steps"], float)])
    known_time = np.concatenate([[0.0], np.asarray(series["values"], float)])
    return np.interp(steps, known_steps, known_time)


def superseded_after(links: Links) -> dict[Path, float]:
    """run_dir -> the step past which a later start replaced it: a start that went on after its last
    checkpoint (killed, or stopped by a signal) logged steps that the next start, resumed from that
    checkpoint, trained and logged again; a lineage's curve keeps the later start's."""
    cut: dict[Path, float] = {}
    for earlier, step in links.values():
        if step is not None:
            cut[earlier.run_dir] = min(cut.get(earlier.run_dir, np.inf), float(step))
    return cut


def tidy(runs: Iterable[Run], metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """The long table of `metrics` (None: every metric) of `runs`."""
    wanted = set(metrics) if metrics is not None else None
    runs = list(runs)
    links = resume_links(runs)
    lineage, resumed_at = lineages(runs, links), superseded_after(links)
    frames = []
    for run in runs:
        for name, series in run.metrics.items():
            if wanted is not None and name not in wanted:
                continue
            steps = np.asarray(series["steps"], float)
            values = np.asarray(series["values"], float)
            kept = steps <= resumed_at.get(run.run_dir, np.inf)
            steps, values = steps[kept], values[kept]
            frames.append(pd.DataFrame({
                "alg": run.alg, "env": run.env, "map": run.map, "seed": run.seed,
                "lineage": lineage[run.run_dir], "label": run.label,
                "status": run.status, "run_dir": str(run.run_dir), "metric": name, "step": steps,
                "value": values, "wall_time": wall_clock_at(run, steps),
            }))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def statuses(include_running: bool) -> tuple[str, ...]:
    """Finished runs only by default; in-progress ones on request (label such figures as partial)."""
    return ("COMPLETED", "RUNNING", "INTERRUPTED") if include_running else ("COMPLETED",)


def load_table(results_dirs: Iterable[Path | str], metrics: Iterable[str] | None = None,
               statuses: Iterable[str] | None = ("COMPLETED",)) -> pd.DataFrame:
    """`tidy` over several results dirs (e.g. the lead's runs plus a sweep's)."""
    runs = [r for d in results_dirs for r in load_runs(d, statuses)]
    return tidy(runs, metrics)


def values_at_budget(table: pd.DataFrame, metric: str, budget: float | None, slack: float = 0.02) -> pd.DataFrame:
    """Per seed (alg, env, map, lineage): the metric's last value at or before the budget. A run
    resumed from its checkpoint leaves one sacred record per start; they continue one another (one
    lineage), so they are read as one series rather than counted as several seeds.

    `budget=None` takes each run's final value. A run whose last evaluation is below
    `budget * (1 - slack)` has not reached the budget and is left out; evaluations up to
    `budget * (1 + slack)` still count, since t_env overshoots the budget by part of an episode."""
    rows = table[table["metric"] == metric].sort_values("step")
    keys = ["alg", "env", "map", "seed", "lineage"]
    out = []
    for key, group in rows.groupby(keys, sort=True):
        if budget is not None:
            if group["step"].max() < budget * (1 - slack):
                continue
            group = group[group["step"] <= budget * (1 + slack)]
            if group.empty:
                continue
        last = group.iloc[-1]
        out.append({**dict(zip(keys, key)), "step": last["step"], "value": last["value"]})
    return pd.DataFrame(out, columns=[*keys, "step", "value"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print or export the sacred records of results dirs as a tidy table.")
    parser.add_argument("--results-dir", nargs="+", default=["results"])
    parser.add_argument("--metrics", nargs="*", default=None, help="metric keys (default: all)")
    parser.add_argument("--all-statuses", action="store_true", help="include FAILED/INTERRUPTED/RUNNING runs")
    parser.add_argument("--csv", default=None, help="write the table here instead of printing a summary")
    parser.add_argument("--completed", nargs=3, metavar=("ALG", "MAP", "SEED"), default=None,
                        help="print nothing; exit 0 when a results dir holds a COMPLETED run of ALG on MAP "
                             "with SEED, 1 when none does")
    args = parser.parse_args(argv)
    if args.completed:
        alg, map_name, seed = args.completed
        found = any(has_completed(d, alg, map_name, int(seed)) for d in args.results_dir)
        raise SystemExit(0 if found else 1)
    table = load_table(args.results_dir, args.metrics, None if args.all_statuses else ("COMPLETED",))
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"wrote {len(table)} rows to {args.csv}")
        return
    summary = table.groupby(["alg", "env", "map", "status"])["seed"].agg(lambda s: sorted(set(s)))
    print(summary.to_string() if len(summary) else "no runs found")


if __name__ == "__main__":
    main()

"""rliable aggregates across maps (paper appendix C, Figures 7-8) at chosen env-step budgets.

    python -m tools.aggregate --results-dir results --metric test_battle_won_mean \
        --budgets 50000 100000 --reference mazero --out docs/figures/fig7

For each algorithm: a [runs x tasks] score matrix (task = env/map; the score is each run's
last evaluation at the budget), then median, IQM, mean and optimality gap (rliable.metrics) with
95% percentile intervals from a stratified bootstrap (runs resampled within each task, as
rliable's StratifiedBootstrap does), and the probability of improvement of the reference
algorithm over each other one (Figure 8), bootstrapped the same way over both score sets.

The bootstrap is implemented here rather than called through rliable.library because that
module imports `arch`, whose releases either fail to import with pandas 3 (arch < 8) or reject
rliable's `random_state` argument (arch 8). Scores are used as they are for win rates (already in
[0, 1]); other metrics are min-max normalised per task over all runs at that budget."""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rliable import metrics as rly  # noqa: E402

from tools.plots import distinct_colours, save, select  # noqa: E402
from tools.records import load_table, statuses, values_at_budget  # noqa: E402

AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {
    "median": rly.aggregate_median,
    "iqm": rly.aggregate_iqm,
    "mean": rly.aggregate_mean,
    "optimality_gap": rly.aggregate_optimality_gap,
}
TITLES = {"median": "Median", "iqm": "IQM", "mean": "Mean", "optimality_gap": "Optimality gap"}


@dataclass(frozen=True)
class Estimate:
    point: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"point": self.point, "low": self.low, "high": self.high}


def score_matrices(values: pd.DataFrame, tasks: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """alg -> [runs, tasks]; an alg missing a task is dropped, and each task keeps the alg's
    lowest-numbered `n` seeds, `n` being its smallest seed count over tasks (rliable needs a matrix)."""
    matrices = {}
    for alg, rows in values.groupby("alg"):
        columns = [rows[(rows["env"] == e) & (rows["map"] == m)].sort_values("seed")["value"].to_numpy()
                   for e, m in tasks]
        n = min(len(c) for c in columns)
        if n == 0:
            continue
        matrices[str(alg)] = np.stack([c[:n] for c in columns], axis=1)
    return matrices


def normalise(values: pd.DataFrame, metric: str, mode: str) -> pd.DataFrame:
    """Win rates stay in [0, 1]; 'minmax' maps each task's observed range onto [0, 1]."""
    if mode == "auto":
        mode = "none" if "battle_won" in metric else "minmax"
    if mode == "none":
        return values
    out = values.copy()
    grouped = out.groupby(["env", "map"])["value"]
    low, high = grouped.transform("min"), grouped.transform("max")
    out["value"] = np.where(high > low, (out["value"] - low) / (high - low).where(high > low, 1.0), 0.5)
    return out


def stratified_indices(rng: np.random.Generator, n_runs: int, n_tasks: int, reps: int) -> np.ndarray:
    """[reps, runs, tasks] run indices drawn with replacement independently within each task."""
    return rng.integers(0, n_runs, size=(reps, n_runs, n_tasks))


def resample(scores: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Applies `stratified_indices` to a [runs, tasks] matrix: [reps, runs, tasks]."""
    return np.take_along_axis(scores[None], idx, axis=1)


def interval(point: float, samples: np.ndarray, confidence: float) -> Estimate:
    """Percentile interval, as rliable's default."""
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Estimate(float(point), float(low), float(high))


def aggregate_estimates(scores: np.ndarray, reps: int, seed: int = 0, confidence: float = 0.95) -> dict[str, Estimate]:
    rng = np.random.default_rng(seed)
    boot = resample(scores, stratified_indices(rng, *scores.shape, reps))
    out = {}
    for name, fn in AGGREGATES.items():
        samples = np.array([fn(b) for b in boot])
        out[name] = interval(fn(scores), samples, confidence)
    return out


def improvement_estimate(x: np.ndarray, y: np.ndarray, reps: int, seed: int = 0,
                         confidence: float = 0.95) -> Estimate:
    """P(X > Y) averaged over tasks (ties count half), with both sets bootstrapped per task."""
    rng = np.random.default_rng(seed)
    bx = resample(x, stratified_indices(rng, *x.shape, reps))
    by = resample(y, stratified_indices(rng, *y.shape, reps))
    samples = np.array([rly.probability_of_improvement(a, b) for a, b in zip(bx, by)])
    return interval(rly.probability_of_improvement(x, y), samples, confidence)


def analyse(table: pd.DataFrame, metric: str, budget: float | None, reference: str, reps: int,
            poi_reps: int, normalisation: str = "auto", seed: int = 0) -> dict:
    """Everything Figures 7-8 show, at one budget, as a JSON-ready dict."""
    values = normalise(values_at_budget(table, metric, budget), metric, normalisation)
    tasks = sorted({(e, m) for e, m in zip(values["env"], values["map"])})
    matrices = score_matrices(values, tasks)
    result: dict = {"budget": budget, "tasks": [f"{e}/{m}" for e, m in tasks], "aggregates": {},
                    "n_runs": {a: int(s.shape[0]) for a, s in matrices.items()}, "probability_of_improvement": {}}
    for alg, scores in matrices.items():
        result["aggregates"][alg] = {k: v.as_dict() for k, v in aggregate_estimates(scores, reps, seed).items()}
    if reference in matrices:
        for alg, scores in matrices.items():
            if alg != reference:
                est = improvement_estimate(matrices[reference], scores, poi_reps, seed)
                result["probability_of_improvement"][f"{reference} > {alg}"] = est.as_dict()
    return result


def figure(result: dict, metric: str, title: str) -> plt.Figure:
    """rliable-style interval plot: one panel per aggregate, one row per algorithm, plus P(improvement)."""
    algs = sorted(result["aggregates"])
    colours = distinct_colours(algs)
    poi = result["probability_of_improvement"]
    panels = list(AGGREGATES) + (["poi"] if poi else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(2.3 * len(panels) + 1.2, 0.45 * max(len(algs), len(poi)) + 1.6))
    for ax, name in zip(np.atleast_1d(axes), panels):
        if name == "poi":
            rows = [(k.split(" > ")[1], v) for k, v in poi.items()]
            ax.axvline(0.5, color="0.5", ls="--", lw=0.8)
            ax.set_title(f"P({next(iter(poi)).split(' > ')[0]} > X)", fontsize=9)
            ax.set_xlim(-0.03, 1.15)
        else:
            rows = [(a, result["aggregates"][a][name]) for a in algs]
            ax.set_title(TITLES[name], fontsize=9)
        for i, (alg, est) in enumerate(rows):
            ax.barh(i, est["high"] - est["low"], left=est["low"], height=0.6, color=colours[alg], alpha=0.75)
            ax.plot([est["point"]] * 2, [i - 0.3, i + 0.3], color="k", lw=1.2)
            ax.annotate(f"{est['point']:.2f}", (est["high"], i), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=7)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([a for a, _ in rows] if (name == panels[0] or name == "poi") else [], fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.margins(x=0.15)
        ax.grid(axis="x", alpha=0.3)
    budget = "final" if result["budget"] is None else f"{result['budget']:,.0f} steps"
    fig.suptitle(f"{title}\n{metric} at {budget}; tasks: {', '.join(result['tasks'])}; "
                 f"runs per task: {', '.join(f'{a}={n}' for a, n in result['n_runs'].items())}", fontsize=8)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="rliable aggregates with stratified-bootstrap 95% CIs at step budgets.")
    p.add_argument("--results-dir", nargs="+", default=["results"])
    p.add_argument("--metric", default="test_battle_won_mean")
    p.add_argument("--budgets", nargs="*", type=float, default=[], help="env steps (none: each run's final value)")
    p.add_argument("--algs", nargs="*")
    p.add_argument("--maps", nargs="*")
    p.add_argument("--reference", default="mazero", help="algorithm whose P(improvement) over the others is shown")
    p.add_argument("--reps", type=int, default=50000, help="bootstrap resamples for the aggregates (rliable's default)")
    p.add_argument("--poi-reps", type=int, default=2000, help="bootstrap resamples for P(improvement)")
    p.add_argument("--normalise", choices=["auto", "none", "minmax"], default="auto")
    p.add_argument("--title", default="Aggregate metrics (95% stratified bootstrap CIs)")
    p.add_argument("--out", required=True, help="path without suffix: writes .json and, per budget, .png/.pdf")
    p.add_argument("--include-running", action="store_true", help="also use runs still RUNNING or stopped early (INTERRUPTED): partial curves")
    args = p.parse_args(argv)
    table = select(load_table(args.results_dir, [args.metric], statuses(args.include_running)), args.algs, args.maps)
    budgets: list[float | None] = list(args.budgets) or [None]
    results = [analyse(table, args.metric, b, args.reference, args.reps, args.poi_reps, args.normalise) for b in budgets]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"metric": args.metric, "normalise": args.normalise, "reps": args.reps, "poi_reps": args.poi_reps,
               "confidence": 0.95, "reference": args.reference, "budgets": results}
    out.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {out.with_suffix('.json')}")
    for result in results:
        suffix = "" if len(results) == 1 else f"_{'final' if result['budget'] is None else int(result['budget'])}"
        for path in save(figure(result, args.metric, args.title), out.with_name(out.name + suffix)):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()

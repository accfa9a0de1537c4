"""Markdown tables from sacred records: per budget, mean +- std over seeds (one row per map, one
column per algorithm), and the with/without-search table of paper Table 8.

    python -m tools.tables budget --results-dir results --metric test_battle_won_mean --budgets 50000 100000
    python -m tools.tables search --results-dir results --alg mazero --budgets 3m=50000 2m_vs_1z=50000
    python -m tools.tables runs --results-dir results --metric test_battle_won_mean --include-running
    python -m tools.tables medians --results-dir docs/runs/smax_loss_gradients/2s3z --metrics grad_norm shared_grad_norm_policy
    python -m tools.tables threshold --results-dir docs/runs/mappo_jaxmarl/3m --threshold 0.9 --window 10 --span 8000000 10000000

The std is the sample std over seeds (ddof=1); a cell with one seed shows the value and n=1.
Table 8's ratio is prior/search per seed (seeds where search scored 0 are left out of the ratio;
no ratio for a map with negative scores, e.g. matrix-game returns, where it means nothing),
then mean +- std over seeds; its average row is the mean +- std over maps of the per-map ratios.
The runs table has one row per run: its last evaluation, the mean of its last `--last`
evaluations (single evaluations of 32 episodes are noisy), its best, and its wall-clock. The medians
table has one row per run too: the median of each metric over every value the run logged (training
diagnostics, which swing from one logged update to the next). The threshold table says, per run,
when a long run holds a level: the first step at which the mean of its last `--window`
evaluations reaches `--threshold`, and the mean and the share of evaluations at or above it
within `--span`."""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from tools.plots import select
from tools.records import load_table, statuses, values_at_budget


def mean_std(values: np.ndarray, fmt: str = "{:.3f}") -> str:
    if len(values) == 0:
        return "-"
    if len(values) == 1:
        return f"{fmt.format(values[0])} (n=1)"
    return f"{fmt.format(np.mean(values))} ± {fmt.format(np.std(values, ddof=1))} (n={len(values)})"


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def budget_cells(table: pd.DataFrame, metric: str, budget: float | None) -> dict[tuple[str, str, str], np.ndarray]:
    """(env, map, alg) -> the per-seed values at the budget."""
    values = values_at_budget(table, metric, budget)
    return {(str(e), str(m), str(a)): g.sort_values("seed")["value"].to_numpy()
            for (e, m, a), g in values.groupby(["env", "map", "alg"])}


def budget_table(table: pd.DataFrame, metric: str, budget: float | None, algs: list[str] | None = None) -> str:
    cells = budget_cells(table, metric, budget)
    algs = algs or sorted({a for _, _, a in cells})
    maps = sorted({(e, m) for e, m, _ in cells})
    title = f"**{metric}** at {'the final evaluation' if budget is None else f'{budget:,.0f} env steps'}"
    rows = [[f"{m} ({e})", *[mean_std(cells.get((e, m, a), np.array([]))) for a in algs]] for e, m in maps]
    return title + "\n\n" + markdown(["map", *algs], rows)


def search_rows(table: pd.DataFrame, alg: str, base: str, budgets: dict[str, float | None]) -> tuple[list[list[str]], list[float]]:
    """One Table 8 row per map; also each map's mean ratio for the average row."""
    rows, ratios = [], []
    runs = table[table["alg"] == alg]
    for (env, map_name), group in sorted(runs.groupby(["env", "map"])):
        budget = budgets.get(map_name, budgets.get("*"))
        search = values_at_budget(group, f"test_{base}", budget)
        prior = values_at_budget(group, f"test_prior_{base}", budget)
        both = search.merge(prior, on=["seed", "lineage"], suffixes=("_search", "_prior"))
        if both.empty:
            continue
        steps = f"{budget:,.0f}" if budget is not None else f"final ({both['step_search'].max():,.0f})"
        signed = bool((both[["value_search", "value_prior"]] < 0).to_numpy().any())
        keep = both["value_search"] != 0
        ratio = (both["value_prior"][keep] / both["value_search"][keep]).to_numpy() * 100
        rows.append([f"{map_name} ({env})", steps, mean_std(both["value_search"].to_numpy()),
                     mean_std(both["value_prior"].to_numpy()),
                     "n/a (negative scores)" if signed else mean_std(ratio, "{:.1f}%")])
        if len(ratio) and not signed:
            ratios.append(float(np.mean(ratio)))
    return rows, ratios


def search_table(table: pd.DataFrame, alg: str, base: str, budgets: dict[str, float | None]) -> str:
    rows, ratios = search_rows(table, alg, base, budgets)
    if ratios:
        rows.append(["average", "", "100%", mean_std(np.array(ratios), "{:.1f}%"), ""])
    header = ["map", "env steps", "w/ search (MCTS)", "w/o search (prior)", "performance ratio"]
    return f"**{alg}: test_{base} with and without search**\n\n" + markdown(header, rows)


def run_name(alg: str, label: str) -> str:
    """A run's config name, with its `label` unless that is the default: it tells variants of one
    config (runs with different overrides) apart in a table."""
    return str(alg) if label == "default" else f"{alg} ({label})"


def runs(table: pd.DataFrame) -> Iterator[tuple[str, str, int, pd.DataFrame]]:
    """(`run_name`, map, seed, its rows) per run, a resumed run's starts read as one (its lineage)."""
    for (alg, label, map_name, seed, _), g in table.groupby(["alg", "label", "map", "seed", "lineage"], sort=True):
        yield run_name(alg, label), map_name, seed, g


def run_curves(table: pd.DataFrame, metric: str) -> Iterator[tuple[str, str, int, pd.DataFrame]]:
    """`runs` of `metric`'s rows, each by step: one curve per run."""
    return runs(table[table["metric"] == metric].sort_values("step"))


def records_named(rows: pd.DataFrame) -> str:
    """The sacred records behind one lineage's rows, in the order they trained; a long chain of
    resumes by its first and last record."""
    names = [Path(d).name for d in rows.groupby("run_dir")["step"].min().sort_values().index]
    return ", ".join(names) if len(names) <= 3 else f"{names[0]} to {names[-1]} ({len(names)} starts)"


def run_rows(table: pd.DataFrame, metric: str, last: int) -> list[list[str]]:
    """One row per run of `metric` (a resumed run's starts read as one curve): alg (`run_name`), map,
    seed, its records, last step (its newest start's status), final, mean of the last `last`
    values, best (at step), wall-clock at the last value."""
    rows = []
    for name, map_name, seed, g in run_curves(table, metric):
        best, final = g.loc[g["value"].idxmax()], g.iloc[-1]
        minutes = final["wall_time"] / 60
        rows.append([name, str(map_name), str(seed), records_named(g),
                     f"{int(final['step']):,} ({final['status']})",
                     f"{final['value']:.2f}", f"{g['value'].tail(last).mean():.2f}",
                     f"{best['value']:.2f} (t={int(best['step']) // 1000}k)",
                     "-" if np.isnan(minutes) else f"{minutes:.1f} min"])
    return rows


def runs_table(table: pd.DataFrame, metric: str, last: int) -> str:
    header = ["alg", "map", "seed", "records", "last evaluation at", "final", f"last {last}", "best", "wall-clock"]
    return markdown(header, run_rows(table, metric, last))


def median_rows(table: pd.DataFrame, metrics: list[str]) -> list[list[str]]:
    """One row per run (a resumed run's starts read as one, its lineage): alg (`run_name`), map,
    seed, its records, the logged steps' range, how many values, each metric's median."""
    rows = []
    for name, map_name, seed, logged in runs(table[table["metric"].isin(metrics)]):
        medians = [logged.loc[logged["metric"] == m, "value"].median() for m in metrics]
        counts = logged.groupby("metric").size()
        rows.append([name, str(map_name), str(seed), records_named(logged),
                     f"{int(logged['step'].min()):,}-{int(logged['step'].max()):,}", str(int(counts.max())),
                     *("-" if np.isnan(v) else f"{v:.3g}" for v in medians)])
    return rows


def medians_table(table: pd.DataFrame, metrics: list[str]) -> str:
    header = ["alg", "map", "seed", "records", "env steps", "values", *(f"`{m}`" for m in metrics)]
    return markdown(header, median_rows(table, metrics))


def rolling_crossing(steps: np.ndarray, values: np.ndarray, threshold: float, window: int) -> float | None:
    """The first step at which the mean of the `window` evaluations ending there is >= `threshold`
    (None if it never is); a single lucky evaluation of 128 episodes does not count as reaching it."""
    if len(values) < window:
        return None
    means = np.convolve(values, np.ones(window) / window, mode="valid")
    hits = np.flatnonzero(means >= threshold - 1e-12)  # ten evaluations of exactly 0.9 reach 0.9
    return float(steps[window - 1 + hits[0]]) if len(hits) else None


def threshold_rows(table: pd.DataFrame, metric: str, threshold: float, window: int,
                   span: tuple[float, float]) -> list[list[str]]:
    """One row per run (a resumed run's starts read as one curve): alg (`run_name`), map, seed, its
    records, `rolling_crossing`, and over the evaluations within `span` (inclusive) their mean and
    the share at or above `threshold`."""
    rows = []
    for name, map_name, seed, g in run_curves(table, metric):
        steps, values = g["step"].to_numpy(), g["value"].to_numpy()
        crossing = rolling_crossing(steps, values, threshold, window)
        inside = values[(steps >= span[0]) & (steps <= span[1])]
        rows.append([name, str(map_name), str(seed), records_named(g),
                     "never" if crossing is None else f"{crossing / 1e6:.2f}M",
                     f"{inside.mean():.2f}" if len(inside) else "-",
                     f"{np.mean(inside >= threshold):.0%}" if len(inside) else "-", str(len(inside))])
    return rows


def threshold_table(table: pd.DataFrame, metric: str, threshold: float, window: int, span: tuple[float, float]) -> str:
    within = f"{span[0] / 1e6:g}M-{span[1] / 1e6:g}M"
    header = ["alg", "map", "seed", "records", f"mean of {window} evaluations first >= {threshold:g} at",
              f"mean {within}", f"share >= {threshold:g} {within}", "evaluations"]
    return markdown(header, threshold_rows(table, metric, threshold, window, span))


def parse_budgets(items: list[str]) -> dict[str, float | None]:
    """`3m=50000` per map, or a bare number for every map; nothing means the final evaluation."""
    out: dict[str, float | None] = {}
    for item in items:
        key, _, value = item.rpartition("=")
        out[key or "*"] = float(value)
    return out or {"*": None}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Markdown tables (mean ± std over seeds) from sacred records.")
    p.add_argument("kind", choices=["budget", "search", "runs", "medians", "threshold"])
    p.add_argument("--results-dir", nargs="+", default=["results"])
    p.add_argument("--metric", default="test_battle_won_mean", help="budget, runs and threshold tables: the metric")
    p.add_argument("--metrics", nargs="+", help="medians table: the metrics")
    p.add_argument("--base", default="battle_won_mean", help="search table: test_<base> vs test_prior_<base>")
    p.add_argument("--alg", default="mazero", help="search table: the algorithm")
    p.add_argument("--algs", nargs="*")
    p.add_argument("--maps", nargs="*")
    p.add_argument("--budgets", nargs="*", default=[], help="budget: env steps; search: MAP=STEPS or STEPS")
    p.add_argument("--last", type=int, default=5, help="runs table: how many final evaluations to average")
    p.add_argument("--threshold", type=float, default=0.9, help="threshold table: the level")
    p.add_argument("--window", type=int, default=10, help="threshold table: evaluations in the rolling mean")
    p.add_argument("--span", type=float, nargs=2, metavar=("FROM", "TO"), help="threshold table: env steps")
    p.add_argument("--out", help="also write the markdown here")
    p.add_argument("--include-running", action="store_true", help="also use runs still RUNNING or stopped early (INTERRUPTED): partial curves")
    args = p.parse_args(argv)
    if args.kind == "medians" and not args.metrics:
        p.error("the medians table needs --metrics")
    if args.kind == "threshold" and (not args.span or args.window < 1):
        p.error("the threshold table needs --span FROM TO and a --window of at least 1")
    metrics = {"budget": [args.metric], "runs": [args.metric, "wall_time"], "medians": args.metrics,
               "threshold": [args.metric], "search": [f"test_{args.base}", f"test_prior_{args.base}"]}[args.kind]
    algs = [args.alg] if args.kind == "search" else args.algs
    table = select(load_table(args.results_dir, metrics, statuses(args.include_running)), algs, args.maps)
    if args.kind == "budget":
        budgets: list[float | None] = [float(b) for b in args.budgets] or [None]
        text = "\n\n".join(budget_table(table, args.metric, b, args.algs) for b in budgets)
    elif args.kind == "runs":
        text = runs_table(table, args.metric, args.last)
    elif args.kind == "medians":
        text = medians_table(table, args.metrics)
    elif args.kind == "threshold":
        text = threshold_table(table, args.metric, args.threshold, args.window, tuple(args.span))
    else:
        text = search_table(table, args.alg, args.base, parse_budgets(args.budgets))
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

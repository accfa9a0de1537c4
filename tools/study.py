"""The sample-efficiency study's table and figure, from the committed 1,024-episode evaluations.

    python -m tools.study docs/runs/smax_study/3m --steps 25000 50000 100000 \
        --figure docs/figures/smax_study_3m
    python -m tools.study docs/runs/smax_study/3m docs/runs/smax_sweep/3m --steps 25000 50000 --order ... \
        --forest docs/figures/smax_sweep_3m_forest --reference mazero
    python -m tools.study <folders> --steps 50000 100000 --paired mazero "mazero+nsim100"
        # the same checkpoints evaluated two ways: the per-seed difference, its mean and interval
    python -m tools.study <folders> --steps 50000 100000 --per-seed --order mazero "mazero (prior)"
        # one row per (algorithm, seed): the cells' single values and the checkpoints they come from

Reads `<folder>/eval/<alg>_<map>_seed<N>.csv` (written by `tools.evaluate_checkpoints` through
`experiments/smax_study.sh`). Each checkpoint is assigned to the nearest requested step (a run
saves when its step first passes a multiple of the interval, e.g. 25,007 or 26,247 for 25,000)
when it lies within 10% of it. A cell is the mean over seeds and its 95% Student-t interval;
MAZero's prior-only evaluation (`test_prior_battle_won_mean`) gets its own row."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tools.plots import distinct_colours, save, t_interval  # noqa: E402
from tools.tables import markdown  # noqa: E402

FILE = re.compile(r"(?P<alg>.+)_(?P<map>[^_]+)_seed(?P<seed>\d+)\.csv$")
METRIC = "test_battle_won_mean"
PRIOR_METRIC = "test_prior_battle_won_mean"
TOLERANCE = 0.1  # a checkpoint counts for a step within 10% of it


def load_evaluations(folder: Path) -> pd.DataFrame:
    """One row per (alg, seed, checkpoint): the win rate, and for MAZero a `<alg> (prior)` row."""
    rows = []
    for path in sorted((folder / "eval").glob("*.csv")):
        match = FILE.match(path.name)
        if match is None:
            raise ValueError(f"{path}: expected <alg>_<map>_seed<N>.csv")
        table = pd.read_csv(path)
        for _, r in table.iterrows():
            base = {"map": match["map"], "seed": int(match["seed"]), "step": int(r["step"]), "episodes": int(r["episodes"])}
            rows.append({**base, "alg": match["alg"], "win_rate": float(r[METRIC])})
            if PRIOR_METRIC in table.columns and not pd.isna(r[PRIOR_METRIC]):
                rows.append({**base, "alg": f"{match['alg']} (prior)", "win_rate": float(r[PRIOR_METRIC])})
    return pd.DataFrame(rows, columns=["alg", "map", "seed", "step", "episodes", "win_rate"])


def nearest_step(step: int, targets: list[int]) -> int | None:
    target = min(targets, key=lambda t: abs(t - step))
    return target if abs(step - target) <= TOLERANCE * target else None


def at_steps(evaluations: pd.DataFrame, steps: list[int]) -> pd.DataFrame:
    """Each (alg, seed)'s checkpoint nearest each requested step (column `target`), if within 10%."""
    table = evaluations.assign(target=[nearest_step(s, steps) for s in evaluations["step"]]).dropna(subset=["target"])
    table = table.assign(distance=(table["step"] - table["target"]).abs()).sort_values("distance")
    return table.drop_duplicates(["alg", "seed", "target"])


def cells(evaluations: pd.DataFrame, steps: list[int]) -> pd.DataFrame:
    """(alg, step) -> n seeds, mean, 95% interval; the checkpoint nearest each step per seed."""
    table = at_steps(evaluations, steps)
    out = []
    for (alg, target), group in table.groupby(["alg", "target"]):
        values = group.sort_values("seed")["win_rate"].to_numpy()
        mean, low, high = t_interval(values)
        out.append({"alg": alg, "step": int(target), "n": len(values), "mean": float(mean), "low": float(low),
                    "high": float(high), "values": tuple(float(v) for v in values)})
    return pd.DataFrame(out)


def require_evaluated(table: pd.DataFrame, algs: list[str]) -> None:
    """A named algorithm without evaluations at the steps is a typo or a missing run: say which."""
    evaluated = set(table["alg"])
    missing = [alg for alg in algs if alg not in evaluated]
    if missing:
        raise ValueError(f"no evaluations of {', '.join(missing)} at the requested steps")


def paired_differences(evaluations: pd.DataFrame, steps: list[int], base: str, other: str) -> pd.DataFrame:
    """Per step, `other` minus `base` over the seeds both have there: each seed's two checkpoints
    played the same scenarios (one evaluation seed), so the pairs cancel the scenarios' and the
    seeds' own variation that separate intervals of the two would carry."""
    table = at_steps(evaluations, steps)
    require_evaluated(table, sorted({base, other}))
    wide = table[table["alg"].isin([base, other])].pivot(index=["target", "seed"], columns="alg", values="win_rate")
    out = []
    for target, group in wide.dropna().groupby(level="target"):
        diff = (group[other] - group[base]).to_numpy()
        mean, low, high = t_interval(diff)
        out.append({"step": int(target), "n": len(diff), "base": float(group[base].mean()),
                    "other": float(group[other].mean()), "mean": float(mean), "low": float(low), "high": float(high),
                    "seeds": tuple(int(seed) for seed in group.index.get_level_values("seed"))})
    return pd.DataFrame(out, columns=["step", "n", "base", "other", "mean", "low", "high", "seeds"])


def per_seed_markdown(evaluations: pd.DataFrame, steps: list[int], order: list[str] | None = None) -> str:
    """One row per (algorithm, seed), in `order` and then seed order: each step's win rate and the
    step of the checkpoint it comes from, the values behind a cell's mean and interval."""
    table = at_steps(evaluations, steps)
    require_evaluated(table, order or [])
    rows = []
    for alg in order or sorted(table["alg"].unique()):
        runs = table[table["alg"] == alg]
        for seed, run in runs.groupby("seed"):
            row = [f"`{alg}`", str(seed)]
            for step in steps:
                cell = run[run["target"] == step]
                row.append("-" if cell.empty else f"{cell.iloc[0]['win_rate']:.3f} ({cell.iloc[0]['step']:,})")
            rows.append(row)
    return markdown(["algorithm", "seed"] + [f"{step_label(s)} (checkpoint)" for s in steps], rows)


def step_label(step: int) -> str:
    """An env-step count as a column name: `12.5k`, `100k`, `10M`, `1.5M`."""
    if step >= 1_000_000:
        return f"{step / 1e6:g}M"
    return f"{step / 1e3:g}k"


def paired_markdown(pairs: pd.DataFrame, base: str, other: str) -> str:
    rows = []
    for _, c in pairs.iterrows():
        interval = f" [{c['low']:+.3f}, {c['high']:+.3f}]" if c["n"] > 1 else ""
        rows.append([step_label(c["step"]), ", ".join(map(str, c["seeds"])), f"{c['base']:.3f}", f"{c['other']:.3f}",
                     f"{c['mean']:+.3f}{interval}"])
    return markdown(["step", "seeds", f"`{base}`", f"`{other}`", "difference (paired, 95% interval)"], rows)


def markdown_table(summary: pd.DataFrame, steps: list[int], order: list[str] | None = None) -> str:
    rows = []
    for alg in order or sorted(summary["alg"].unique()):
        row = [f"`{alg}`"]
        for step in steps:
            cell = summary[(summary["alg"] == alg) & (summary["step"] == step)]
            if cell.empty:
                row.append("-")
                continue
            c = cell.iloc[0]
            interval = f" [{c['low']:.2f}, {c['high']:.2f}]" if c["n"] > 1 else ""
            row.append(f"{c['mean']:.3f}{interval} (n={c['n']})")
        rows.append(row)
    return markdown(["algorithm"] + [step_label(s) for s in steps], rows)


def seeds_label(counts: pd.Series) -> str:
    """`n=3`, or `n=2-4` where the cells of one curve have different numbers of seeds."""
    low, high = int(counts.min()), int(counts.max())
    return f"n={high}" if low == high else f"n={low}-{high}"


def figure(summary: pd.DataFrame, title: str, order: list[str] | None = None) -> plt.Figure:
    """Mean win rate per curve; the 95% interval is shaded only where every cell has 3 or more seeds
    (over two seeds it spans most of the axis and hides the other curves). The figure grows with
    its legend, which sits beside the panel."""
    algs = order or sorted(summary["alg"].unique())
    shown = sum(not summary[summary["alg"] == alg].empty for alg in algs)
    fig, ax = plt.subplots(figsize=(8.0, max(4.0, 0.2 * shown + 0.6)))
    colours = distinct_colours([alg.replace(" (prior)", "") for alg in algs])
    for alg in algs:
        group = summary[summary["alg"] == alg].sort_values("step")
        if group.empty:
            continue
        style = "--" if alg.endswith("(prior)") else "-"
        name = alg.replace(" (prior)", "")
        ax.plot(group["step"] / 1000, group["mean"], style, marker="o", color=colours[name],
                label=f"{alg} ({seeds_label(group['n'])})")
        if group["n"].min() >= 3:
            ax.fill_between(group["step"] / 1000, group["low"], group["high"], color=colours[name], alpha=0.15)
    ax.set_xlabel("env steps (thousands)")
    ax.set_ylabel("test win rate (1,024 episodes)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: the curves cross the whole panel
    fig.tight_layout()
    return fig


def forest(summary: pd.DataFrame, steps: list[int], order: list[str] | None = None,
           reference: str | None = None) -> plt.Figure:
    """One panel per step, one row per algorithm (prior rows left out): each seed's win rate, the
    mean and its 95% interval, over the reference's interval as a band. A sweep of one-seed
    variants reads here against the reference's seeds, where as curves they overlap."""
    algs = [alg for alg in (order or sorted(summary["alg"].unique())) if not alg.endswith("(prior)")]
    if reference is not None and reference not in algs:
        raise ValueError(f"reference {reference!r} is not among the algorithms shown: {algs}")
    colours = distinct_colours(algs)
    fig, axes = plt.subplots(1, len(steps), figsize=(3.2 * len(steps) + 2.2, 0.28 * len(algs) + 1.2),
                             sharey=True, squeeze=False)
    rows = {alg: len(algs) - 1 - i for i, alg in enumerate(algs)}  # the first algorithm on top
    for ax, step in zip(axes[0], steps):
        at_step = summary[summary["step"] == step].set_index("alg")
        if reference in at_step.index:
            ref = at_step.loc[reference]
            ax.axvspan(ref["low"], ref["high"], color=colours[reference], alpha=0.12, lw=0)
            ax.axvline(ref["mean"], color=colours[reference], lw=0.8, ls="--")
        for alg, y in rows.items():
            if alg not in at_step.index:
                continue
            cell = at_step.loc[alg]
            ax.plot(cell["values"], [y] * len(cell["values"]), "o", mfc="none", ms=4, color=colours[alg], alpha=0.6)
            if cell["n"] > 1:
                ax.plot([cell["low"], cell["high"]], [y, y], "-", lw=2, color=colours[alg])
            ax.plot([cell["mean"]], [y], "D", ms=6, color=colours[alg])
            ax.text(0.99, y, f"n={cell['n']}", transform=ax.get_yaxis_transform(), ha="right", va="center",
                    fontsize=7, color="0.4")
        ax.set_title(f"{step_label(step)} env steps")
        ax.set_xlim(0, 1)
        ax.set_xlabel("test win rate (1,024 episodes)")
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(list(rows.values()), list(rows))
    axes[0][0].set_ylim(-0.7, len(algs) - 0.3)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+",
                        help="folders holding eval/ (one map; several combine, e.g. a sweep's with the study's)")
    parser.add_argument("--steps", type=int, nargs="+", required=True)
    parser.add_argument("--order", nargs="*",
                        help="the algorithms shown, in table order (default: all, alphabetical)")
    parser.add_argument("--figure", type=Path, help="path stem of the figure (.png and .pdf)")
    parser.add_argument("--forest", type=Path,
                        help="path stem of a second figure: per step, each algorithm's seeds, mean and interval")
    parser.add_argument("--forest-steps", type=int, nargs="+",
                        help="the forest figure's panels (default: --steps); read only with --forest")
    parser.add_argument("--reference", help="the forest figure's band: this algorithm's interval (default: the first of --order)")
    parser.add_argument("--paired", nargs=2, metavar=("BASE", "OTHER"),
                        help="instead of the table: OTHER minus BASE per step over the seeds both have, "
                             "e.g. one checkpoint evaluated two ways")
    parser.add_argument("--per-seed", action="store_true",
                        help="instead of the table: each (algorithm, seed)'s win rate per step and its checkpoint")
    args = parser.parse_args(argv)
    if args.per_seed and (args.paired or args.figure or args.forest):
        parser.error("--per-seed prints its table only: leave out --paired, --figure and --forest")
    if args.forest_steps and not set(args.forest_steps) <= set(args.steps):
        parser.error(f"--forest-steps {sorted(set(args.forest_steps) - set(args.steps))} are not among --steps")
    evaluations = pd.concat([load_evaluations(folder) for folder in args.folders], ignore_index=True)
    if evaluations.empty:
        raise SystemExit(f"no evaluations under {', '.join(str(f / 'eval') for f in args.folders)}")
    if args.paired or args.per_seed:
        try:
            print(paired_markdown(paired_differences(evaluations, args.steps, *args.paired), *args.paired)
                  if args.paired else per_seed_markdown(evaluations, args.steps, args.order))
        except ValueError as error:
            raise SystemExit(str(error)) from None
        return
    summary = cells(evaluations, args.steps)
    print(markdown_table(summary, args.steps, args.order))
    if args.figure:
        maps = ", ".join(sorted(evaluations["map"].unique()))
        for path in save(figure(summary, f"SMAX {maps}: win rate per env step", args.order), args.figure):
            print(f"wrote {path}")
    if args.forest:
        reference = args.reference or (args.order[0] if args.order else None)
        for path in save(forest(summary, args.forest_steps or args.steps, args.order, reference), args.forest):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()

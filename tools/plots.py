"""Paper-style learning curves from sacred records (PNG and PDF).

    python -m tools.plots --results-dir results --metric test_battle_won_mean --x steps --out docs/figures/fig3
    python -m tools.plots --figure fig5 --maps 3m --out docs/figures/fig5      # ablation preset

One panel per map; per algorithm the mean over seeds with a 95% Student-t confidence band
(mean +- t_{0.975, n-1} * sd / sqrt(n)). The t-interval, not a bootstrap, because sweeps have
2-10 seeds, where a bootstrap's percentile interval is too narrow. With one seed there is no band.
Seeds are evaluated at slightly different t_env, so each seed is interpolated onto a shared grid
spanning the range that every seed covers. Colours are fixed per algorithm name (PALETTE), so an
algorithm looks the same in every figure."""
from __future__ import annotations

import argparse
import hashlib
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from tools.records import load_table, read_json, statuses  # noqa: E402

PALETTE: dict[str, str] = {
    "mazero": "#d62728", "mazero_paper": "#8c1c13", "mazero_matrix": "#e8590c",
    "mazero_no_oslambda": "#1f77b4", "mazero_bc": "#2ca02c", "mazero_sampled_muzero": "#9467bd",
    "mazero_no_comm": "#ff7f0e", "mazero_no_sharing": "#17becf", "mazero_flat": "#7f7f7f",
    "qmix": "#1f3a93", "vdn": "#e377c2", "mappo": "#2e8b57", "ippo": "#bcbd22",
    "qplex": "#8c564b", "rode": "#ff9896", "cds": "#6b6ecf", "mamba": "#393b79",
    "qmix_tuned": "#4a90d9", "qplex_tuned": "#c49c94", "rode_tuned": "#fd8d3c", "cds_tuned": "#9c9ede",
    "mappo_smax": "#98df8a",
}
# Sixteen hues none of PALETTE's, enough for a sweep figure's variants to get one each.
EXTRA_COLOURS = ["#637939", "#f0027f", "#bd9e39", "#e7ba52", "#843c39", "#d6616b", "#7b4173", "#a55194",
                 "#8ca252", "#8c6d31", "#ad494a", "#ce6dbd", "#756bb1", "#00a6a6", "#006d6f", "#000000"]

# Paper ablation figures: which algorithm configs (or which swept config key) each compares.
ABLATIONS: dict[str, dict] = {
    "fig5": {"algs": ["mazero", "mazero_no_oslambda", "mazero_bc", "mazero_sampled_muzero"],
             "title": "Ablation: OS(lambda) and AWPO (paper Figure 5)"},
    "fig6": {"algs": ["mazero", "mazero_no_comm", "mazero_no_sharing", "mazero_flat"],
             "title": "Ablation: network structure (paper Figure 6)"},
    "fig9": {"algs": ["mazero"], "vary": "optimizer", "title": "Ablation: optimizer (paper Figure 9)"},
    "fig10": {"algs": ["mazero"], "vary": "num_sampled_actions", "title": "Ablation: sampled scale K/N (paper Figure 10)"},
    "fig11": {"algs": ["mazero"], "vary": "mcts_rho", "title": "Ablation: OS(lambda) rho (paper Figure 11)"},
}
METRIC_LABELS = {"test_battle_won_mean": "test win rate", "test_return_mean": "test return",
                 "test_prior_battle_won_mean": "test win rate (prior, no search)", "return_mean": "train return"}


def colour(name: str) -> str:
    """The algorithm's fixed colour; a stable hash picks one for names not in PALETTE."""
    if name in PALETTE:
        return PALETTE[name]
    return EXTRA_COLOURS[int(hashlib.md5(name.encode()).hexdigest(), 16) % len(EXTRA_COLOURS)]


def distinct_colours(names: list[str]) -> dict[str, str]:
    """One figure's colours: PALETTE's, else the hashed extra colour, moved on to the next free
    one where an earlier name of the figure holds it, so two curves share a colour only once all
    extra colours are taken."""
    taken = {PALETTE[n] for n in names if n in PALETTE}
    chosen = {}
    for name in dict.fromkeys(names):
        if name in PALETTE:
            chosen[name] = PALETTE[name]
            continue
        start = EXTRA_COLOURS.index(colour(name))
        ring = EXTRA_COLOURS[start:] + EXTRA_COLOURS[:start]
        chosen[name] = next((c for c in ring if c not in taken), ring[0])
        taken.add(chosen[name])
    return chosen


def variant_colours(names: list[str]) -> dict[str, str]:
    """Values of one swept key get an ordered colour map, so neighbouring values look alike."""
    cmap = plt.get_cmap("viridis")
    return {n: matplotlib.colors.to_hex(cmap(i / max(len(names) - 1, 1) * 0.9)) for i, n in enumerate(names)}


def t_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and Student-t interval over axis 0 (seeds); the interval is the mean itself for one seed."""
    n = values.shape[0]
    mean = values.mean(axis=0)
    if n < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * values.std(axis=0, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def seed_curves(rows: pd.DataFrame, x: str, points: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(grid, values[seed, grid]): every seed's curve interpolated onto the x-range all seeds cover. A
    resumed run's records (one per start, one lineage) continue one another and make one curve."""
    runs = [g.sort_values(x) for _, g in rows.dropna(subset=[x]).groupby("lineage")]
    if not runs:
        return np.array([]), np.zeros((0, 0))
    low = max(r[x].iloc[0] for r in runs)
    high = min(r[x].iloc[-1] for r in runs)
    grid = np.linspace(low, high, points) if high > low else np.array([high])
    return grid, np.stack([np.interp(grid, r[x].to_numpy(), r["value"].to_numpy()) for r in runs])


def series_name(alg: str, config_value: object | None, vary: str | None) -> str:
    return alg if vary is None else f"{alg} {vary}={config_value}"


def add_variant(table: pd.DataFrame, vary: str | None) -> pd.DataFrame:
    """A `series` column: the alg name, or `alg key=value` when an ablation sweeps a config key."""
    table = table.copy()
    if vary is None:
        table["series"] = table["alg"]
        return table
    values = {d: read_json(Path(d) / "config.json").get(vary) for d in table["run_dir"].unique()}
    table["series"] = [series_name(a, values[d], vary) for a, d in zip(table["alg"], table["run_dir"])]
    return table


def plot_curves(table: pd.DataFrame, metric: str, x: str = "step", title: str | None = None,
                series_order: list[str] | None = None, caption: str | None = None,
                colours: dict[str, str] | None = None) -> plt.Figure:
    """One panel per (env, map); one line + 95% t-band per series. `x`: 'step' or 'wall_time'."""
    rows = table[table["metric"] == metric]
    if "series" not in rows:
        rows = add_variant(rows, None)
    panels = sorted(rows.groupby(["env", "map"]).groups)
    if not panels:
        raise SystemExit(f"no completed runs log '{metric}' (check --results-dir, --algs and --maps)")
    order = series_order or sorted(rows["series"].unique())
    colours = distinct_colours(list(order)) | (colours or {})
    fig, axes = plt.subplots(1, len(panels), figsize=(max(6.5, 3.6 * len(panels) + 0.6), 3.4), squeeze=False,
                             layout="constrained")
    scale, unit = x_scale(rows, x)
    handles = {}
    for ax, (env, map_name) in zip(axes[0], panels):
        panel = rows[(rows["env"] == env) & (rows["map"] == map_name)]
        for name in order:
            grid, values = seed_curves(panel[panel["series"] == name], x)
            if values.size == 0:
                continue
            mean, low, high = t_interval(values)
            if "battle_won" in metric:  # a rate: a band outside [0, 1] (few seeds) says nothing
                low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
            line, = ax.plot(grid / scale, mean, color=colours[name], lw=1.6, label=f"{name} (n={values.shape[0]})")
            ax.fill_between(grid / scale, low, high, color=colours[name], alpha=0.18, lw=0)
            handles.setdefault(name, line)
        ax.set_title(f"{map_name} ({env})", fontsize=10)
        ax.set_xlabel(unit)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(METRIC_LABELS.get(metric, metric))
    labels = [h.get_label() for h in handles.values()]
    fig.legend(list(handles.values()), labels, loc="outside lower center", fontsize=8,
               ncol=min(len(labels), max(1, int(fig.get_figwidth() / 2.2))),
               frameon=False)
    width_chars = int(fig.get_figwidth() * 13)
    heading = "\n".join(textwrap.fill(t, width_chars) for t in (title, caption) if t)
    if heading:
        fig.suptitle(heading, fontsize=9)
    return fig


def x_scale(rows: pd.DataFrame, x: str) -> tuple[float, str]:
    """Readable x units: env steps in k or M, wall-clock in minutes or hours."""
    top = float(rows[x].max()) if len(rows) else 0.0
    if x == "wall_time":
        if top > 3 * 3600:
            return 3600.0, "wall-clock (hours)"
        return (60.0, "wall-clock (minutes)") if top > 180 else (1.0, "wall-clock (seconds)")
    return (1e6, "env steps (M)") if top >= 1e6 else (1e3, "env steps (k)")


def save(fig: plt.Figure, out: Path, dpi: int = 110) -> list[Path]:
    """PNG (for docs, small) and PDF (for papers) side by side. The PDF carries no creation date, so
    regenerating a figure from the same records leaves both files byte for byte unchanged."""
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=dpi)
    fig.savefig(paths[1], metadata={"CreationDate": None})
    plt.close(fig)
    return paths


def select(table: pd.DataFrame, algs: list[str] | None, maps: list[str] | None,
           labels: list[str] | None = None) -> pd.DataFrame:
    keep = np.ones(len(table), bool)
    if algs:
        keep &= table["alg"].isin(algs).to_numpy()
    if maps:
        keep &= table["map"].isin(maps).to_numpy()
    if labels:
        keep &= table["label"].isin(labels).to_numpy()
    return table[keep]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Learning curves (mean and 95% t-interval over seeds) per map.")
    p.add_argument("--results-dir", nargs="+", default=["results"])
    p.add_argument("--metric", default="test_battle_won_mean")
    p.add_argument("--x", choices=["steps", "wall"], default="steps", help="env steps (Fig. 3) or wall-clock (Fig. 4)")
    p.add_argument("--algs", nargs="*")
    p.add_argument("--maps", nargs="*")
    p.add_argument("--labels", nargs="*", help="only runs with these `label`s (variants of one config; 'default' if unset)")
    p.add_argument("--figure", choices=sorted(ABLATIONS), help="ablation preset: its algs and swept key")
    p.add_argument("--vary", help="config key whose values split an algorithm into series (e.g. mcts_rho)")
    p.add_argument("--title")
    p.add_argument("--caption", help="small text under the figure, e.g. the budget and seeds")
    p.add_argument("--max-steps", type=float, help="drop evaluations after this many env steps (a budget zoom)")
    p.add_argument("--out", required=True, help="path without suffix; writes .png and .pdf")
    p.add_argument("--include-running", action="store_true", help="also use runs still RUNNING or stopped early (INTERRUPTED): partial curves")
    args = p.parse_args(argv)
    preset = ABLATIONS.get(args.figure or "", {})
    algs = args.algs or preset.get("algs")
    vary = args.vary or preset.get("vary")
    table = load_table(args.results_dir, [args.metric, "wall_time"], statuses(args.include_running))
    if args.max_steps is not None:
        table = table[table["step"] <= args.max_steps]
    table = add_variant(select(table, algs, args.maps, args.labels), vary)
    order = None
    if algs:
        order = [s for a in algs for s in sorted(table.loc[table["alg"] == a, "series"].unique())]
    fig = plot_curves(table, args.metric, "wall_time" if args.x == "wall" else "step",
                      args.title or preset.get("title"), order, args.caption,
                      variant_colours(order) if vary and order else None)
    for path in save(fig, Path(args.out)):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

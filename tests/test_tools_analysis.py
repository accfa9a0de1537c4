"""Records, plots, aggregates and tables on sacred records of real tiny runs (qmix and vdn on a
matrix game, 2 seeds each, plus one tiny MAZero run for the with/without-search table)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tools import aggregate, plots, records, tables

MAIN = Path(__file__).resolve().parents[1] / "src" / "main.py"
COMMON = ["test_nepisode=2", "test_interval=50", "runner_log_interval=50", "log_interval=100",
          "save_model=False", "env_args.map_name=matgame2"]
MAZERO = ["t_max=100", "num_simulations=4", "batch_size=8", "min_replay_transitions=16", "buffer_size=64",
          "unroll_steps=2", "td_steps=2", "communication_layers=1", "hidden_dim=32", "reanalyse_workers=0"]
RUNS = [("qmix", s, ["t_max=200", "batch_size=4"]) for s in (1, 2)] + \
       [("vdn", s, ["t_max=200", "batch_size=4"]) for s in (1, 2)] + [("mazero", 1, MAZERO)]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Runs the tiny runs two at a time (the machine has two cores)."""
    out = tmp_path_factory.mktemp("results")
    pending = [[sys.executable, str(MAIN), f"--config={alg}", "--env-config=matrix", "with", f"results_dir={out}",
                f"seed={seed}", *COMMON, *extra] for alg, seed, extra in RUNS]
    while pending:
        batch, pending = pending[:2], pending[2:]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for cmd in batch]
        for proc in procs:
            output, _ = proc.communicate(timeout=300)
            assert proc.returncode == 0, output[-3000:]
    return out


@pytest.fixture(scope="module")
def table(results):
    return records.load_table([results])


def final_values(results: Path, alg: str, metric: str) -> list[float]:
    """Straight from metrics.json, independently of tools.records."""
    values = []
    for path in sorted(results.glob(f"sacred/{alg}/*/*/metrics.json")):
        values.append(json.loads(path.read_text())[metric]["values"][-1])
    return values


def test_records_are_tidy(results, table):
    runs = records.load_runs(results)
    assert sorted((r.alg, r.seed) for r in runs) == [("mazero", 1), ("qmix", 1), ("qmix", 2), ("vdn", 1), ("vdn", 2)]
    assert set(table["map"]) == {"matgame2"} and set(table["env"]) == {"matrix"}
    rows = table[(table["metric"] == "test_return_mean") & (table["alg"] == "qmix")]
    assert rows["step"].max() >= 200 and rows["wall_time"].notna().all()
    final = records.values_at_budget(table, "test_return_mean", None)
    assert sorted(final[final["alg"] == "vdn"]["value"]) == sorted(final_values(results, "vdn", "test_return_mean"))
    assert records.values_at_budget(table, "test_return_mean", 10_000).empty  # no run reached it


def test_budget_table_mean_matches_numpy(results, table):
    cells = tables.budget_cells(table, "test_return_mean", None)
    for alg in ("qmix", "vdn"):
        expected = final_values(results, alg, "test_return_mean")
        np.testing.assert_allclose(np.mean(cells[("matrix", "matgame2", alg)]), np.mean(expected))
        assert f"{np.mean(expected):.3f} ± {np.std(expected, ddof=1):.3f} (n=2)" in \
            tables.budget_table(table, "test_return_mean", None)
    at_100 = tables.budget_cells(table, "test_return_mean", 100)
    assert len(at_100[("matrix", "matgame2", "qmix")]) == 2


def test_runs_table_matches_metrics_json(results, table):
    """final / last-k mean / best per run, against metrics.json read directly."""
    rows = tables.run_rows(table, "test_return_mean", last=2)
    qmix = [r for r in rows if r[0] == "qmix"]
    assert len(qmix) == 2 and len(rows) == 5
    for path, row in zip(sorted(results.glob("sacred/qmix/*/*/metrics.json")), sorted(qmix, key=lambda r: int(r[3]))):
        series = json.loads(path.read_text())["test_return_mean"]
        values = series["values"]
        assert row[3] == path.parent.name and row[4].startswith(f"{int(series['steps'][-1]):,} (COMPLETED)")
        assert row[5] == f"{values[-1]:.2f}" and row[6] == f"{np.mean(values[-2:]):.2f}"
        assert row[7].startswith(f"{max(values):.2f} ")


def test_runs_table_names_labelled_variants(table):
    """Runs of one config with different labels are told apart; the default label adds nothing."""
    labelled = table.copy()
    one_run = sorted(labelled.loc[labelled["alg"] == "qmix", "run_dir"].unique())[0]
    labelled.loc[labelled["run_dir"] == one_run, "label"] = "lr1e-3"
    rows = tables.run_rows(labelled, "test_return_mean", last=2)
    assert sorted(r[0] for r in rows if r[0].startswith("qmix")) == ["qmix", "qmix (lr1e-3)"]
    assert [r[3] for r in rows if r[0] == "qmix (lr1e-3)"] == [Path(one_run).name]
    assert len(rows) == 5
    medians = tables.median_rows(labelled, ["test_return_mean"])
    assert sorted(r[0] for r in medians if r[0].startswith("qmix")) == ["qmix", "qmix (lr1e-3)"]
    chosen = plots.select(labelled, ["qmix"], None, ["lr1e-3"])
    assert set(chosen["run_dir"]) == {one_run}
    assert set(plots.select(labelled, ["qmix"], None, ["default"])["run_dir"]) == set(labelled.loc[
        (labelled["alg"] == "qmix") & (labelled["run_dir"] != one_run), "run_dir"])


def test_search_table_from_mazero(results):
    table = records.load_table([results], ["test_return_mean", "test_prior_return_mean"])
    text = tables.search_table(table[table["alg"] == "mazero"], "mazero", "return_mean", {"*": None})
    search = final_values(results, "mazero", "test_return_mean")[0]
    prior = final_values(results, "mazero", "test_prior_return_mean")[0]
    assert f"{search:.3f} (n=1)" in text and f"{prior:.3f} (n=1)" in text
    if min(search, prior) < 0:
        assert "n/a (negative scores)" in text
    elif search != 0:
        assert f"{prior / search * 100:.1f}% (n=1)" in text


def test_iqm_and_interval_of_known_matrix():
    scores = np.arange(8, dtype=float).reshape(4, 2)  # runs x tasks
    est = aggregate.aggregate_estimates(scores, reps=300)
    assert est["iqm"].point == pytest.approx(np.mean([2, 3, 4, 5]))  # the middle half of 0..7
    assert est["mean"].point == pytest.approx(3.5)
    assert est["median"].point == pytest.approx(np.median(scores.mean(axis=0)))
    assert est["optimality_gap"].point == pytest.approx(1 - np.mean(np.minimum(scores, 1)))
    for e in est.values():
        assert e.low <= e.point <= e.high


def test_bootstrap_is_stratified_by_task():
    scores = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0]])
    boot = aggregate.resample(scores, aggregate.stratified_indices(np.random.default_rng(0), 3, 2, 200))
    assert set(boot[:, :, 0].ravel()) <= {0.0, 1.0, 2.0} and set(boot[:, :, 1].ravel()) <= {10.0, 11.0, 12.0}


def test_probability_of_improvement():
    x = np.array([[0.1, 0.5], [0.4, 0.9], [0.2, 0.7]])
    assert aggregate.improvement_estimate(x, x.copy(), reps=100).point == pytest.approx(0.5)
    assert aggregate.improvement_estimate(x + 1, x, reps=100).point == pytest.approx(1.0)


def test_analyse_real_runs(table):
    result = aggregate.analyse(table, "test_return_mean", None, "qmix", reps=200, poi_reps=50)
    assert result["n_runs"] == {"mazero": 1, "qmix": 2, "vdn": 2}
    assert set(result["probability_of_improvement"]) == {"qmix > vdn", "qmix > mazero"}
    values = aggregate.normalise(records.values_at_budget(table, "test_return_mean", None), "test_return_mean", "auto")
    assert values["value"].between(0, 1).all()
    qmix = values[values["alg"] == "qmix"]["value"].to_numpy()
    assert result["aggregates"]["qmix"]["mean"]["point"] == pytest.approx(qmix.mean())
    fig = aggregate.figure(result, "test_return_mean", "t")
    assert len(fig.axes) == 5


def test_t_interval_matches_scipy():
    values = np.array([[0.0, 1.0], [0.5, 1.0], [1.0, 1.0]])
    mean, low, high = plots.t_interval(values)
    ci = stats.t.interval(0.95, 2, loc=0.5, scale=stats.sem([0.0, 0.5, 1.0]))
    np.testing.assert_allclose([mean[0], low[0], high[0]], [0.5, *ci])
    assert low[1] == high[1] == 1.0


def test_curves_from_real_runs(table, tmp_path, monkeypatch):
    rows = plots.add_variant(table[table["alg"].isin(["qmix", "vdn"])], None)
    fig = plots.plot_curves(rows, "test_return_mean", "step", title="t", caption="c")
    ax = fig.axes[0]
    assert ax.get_title() == "matgame2 (matrix)" and ax.get_xlabel() == "env steps (k)"
    colours = {line.get_label().split(" ")[0]: line.get_color() for line in ax.get_lines()}
    assert colours == {"qmix": plots.PALETTE["qmix"], "vdn": plots.PALETTE["vdn"]}
    grid, values = plots.seed_curves(rows[(rows["alg"] == "qmix") & (rows["metric"] == "test_return_mean")], "step")
    assert values.shape == (2, len(grid))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # matplotlib's clock for a PDF's creation date
    paths = plots.save(fig, tmp_path / "fig")
    assert all(p.stat().st_size > 1000 for p in paths)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000000000")  # regenerated on another day: no byte differs
    again = plots.save(plots.plot_curves(rows, "test_return_mean", "step", title="t", caption="c"), tmp_path / "again")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]
    wall = plots.plot_curves(rows, "test_return_mean", "wall_time")
    assert wall.axes[0].get_xlabel().startswith("wall-clock")


def test_cli_end_to_end(results, tmp_path):
    plots.main(["--results-dir", str(results), "--metric", "test_return_mean", "--out", str(tmp_path / "c")])
    plots.main(["--results-dir", str(results), "--metric", "test_return_mean", "--max-steps", "100",
                "--out", str(tmp_path / "zoom")])
    aggregate.main(["--results-dir", str(results), "--metric", "test_return_mean", "--reference", "qmix",
                    "--reps", "100", "--poi-reps", "20", "--budgets", "100", "200", "--out", str(tmp_path / "a")])
    tables.main(["budget", "--results-dir", str(results), "--metric", "test_return_mean", "--out", str(tmp_path / "t.md")])
    assert (tmp_path / "c.png").is_file() and (tmp_path / "zoom.pdf").is_file()
    assert (tmp_path / "a_100.png").is_file() and (tmp_path / "a_200.pdf").is_file()
    assert json.loads((tmp_path / "a.json").read_text())["budgets"][1]["budget"] == 200
    assert "| map | mazero | qmix | vdn |" in (tmp_path / "t.md").read_text()


def test_search_ratio_per_seed():
    """Win-rate style scores: ratio = prior / search per seed, then mean ± std over seeds."""
    import pandas as pd

    rows = []
    for seed, (search, prior) in enumerate([(1.0, 0.9), (0.8, 0.8)]):
        for metric, value in (("test_battle_won_mean", search), ("test_prior_battle_won_mean", prior)):
            rows.append({"alg": "mazero", "env": "sc2-smax", "map": "3m", "seed": seed, "lineage": f"seed{seed}", "label": "x",
                         "status": "COMPLETED", "run_dir": f"r{seed}", "metric": metric, "step": 50_000.0,
                         "value": value, "wall_time": 1.0})
    text = tables.search_table(pd.DataFrame(rows), "mazero", "battle_won_mean", {"3m": 50_000})
    ratios = np.array([90.0, 100.0])
    assert f"{ratios.mean():.1f}% ± {ratios.std(ddof=1):.1f}% (n=2)" in text
    assert "| 3m (sc2-smax) | 50,000 |" in text


def write_record(results: Path, run_id: int, seed: int, status: str, steps: list[int], values: list[float]) -> None:
    run = results / "sacred" / "mazero" / "sc2-smax_3m" / str(run_id)
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"name": "mazero", "env": "sc2", "seed": seed,
                                                 "env_args": {"map_name": "3m", "backend": "smax"}}))
    (run / "run.json").write_text(json.dumps({"status": status}))
    (run / "metrics.json").write_text(json.dumps({"test_battle_won_mean": {"steps": steps, "values": values}}))


def test_a_resumed_run_is_one_seed_not_two(tmp_path):
    """A run stopped at 40k and resumed from its checkpoint leaves two records of seed 1: the tables
    take the seed's value at a budget from whichever record holds it, the plots draw one curve."""
    write_record(tmp_path, 1, 1, "INTERRUPTED", [0, 20_000, 40_000], [0.0, 0.3, 0.5])
    write_record(tmp_path, 2, 1, "COMPLETED", [60_000, 80_000, 100_000], [0.6, 0.7, 0.8])
    write_record(tmp_path, 3, 2, "COMPLETED", [0, 50_000, 100_000], [0.0, 0.4, 0.6])
    table = records.load_table([tmp_path], statuses=records.statuses(True))
    at_40k = records.values_at_budget(table, "test_battle_won_mean", 40_000)
    assert sorted(zip(at_40k["seed"], at_40k["value"])) == [(1, 0.5), (2, 0.0)]  # seed 2: its 0-step value
    final = records.values_at_budget(table, "test_battle_won_mean", None)
    assert sorted(zip(final["seed"], final["value"])) == [(1, 0.8), (2, 0.6)]
    grid, values = plots.seed_curves(table[table["metric"] == "test_battle_won_mean"], "step")
    assert values.shape == (2, len(grid)) and grid[0] == 0 and grid[-1] == 100_000
    assert values[0][np.searchsorted(grid, 50_000)] == pytest.approx(0.55, abs=0.01)  # across the resume


def test_medians_table_is_the_median_of_every_logged_value(tmp_path):
    """Per run, each metric's median over all its logged values (here odd and even counts)."""
    grad = {"policy": [2.0, 9.0, 1.0], "value": [0.5, 0.1, 0.3, 0.2]}
    for run_id, seed in ((1, 1), (2, 2)):
        run = tmp_path / "sacred" / "mazero" / "sc2-smax_2s3z" / str(run_id)
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"name": "mazero", "env": "sc2", "seed": seed,
                                                     "env_args": {"map_name": "2s3z", "backend": "smax"}}))
        (run / "run.json").write_text(json.dumps({"status": "COMPLETED"}))
        metrics = {f"shared_grad_norm_{k}": {"steps": [1000 * (i + 1) for i in range(len(v))],
                                             "values": [x * seed for x in v]} for k, v in grad.items()}
        (run / "metrics.json").write_text(json.dumps(metrics))
    names = ["shared_grad_norm_policy", "shared_grad_norm_value", "shared_grad_norm_reward"]
    rows = tables.median_rows(records.load_table([tmp_path], names), names)
    assert [r[:6] for r in rows] == [["mazero", "2s3z", "1", "1", "1,000-4,000", "4"],
                                     ["mazero", "2s3z", "2", "2", "1,000-4,000", "4"]]
    for seed, row in zip((1, 2), rows):
        assert row[6] == f"{np.median(grad['policy']) * seed:.3g}"  # 2.0 and 4.0
        assert row[7] == f"{np.median(grad['value']) * seed:.3g}"  # between the middle two: 0.25 and 0.5
        assert row[8] == "-"  # not logged


def test_completed_query_finds_only_finished_runs_of_that_identity(results, tmp_path):
    """experiments/matrix_games.sh skips a run when this says it finished; a run that was
    interrupted, or one of another seed or map, must not count."""
    assert records.has_completed(results, "qmix", "matgame2", 1)
    assert not records.has_completed(results, "qmix", "matgame2", 3)
    assert not records.has_completed(results, "qmix", "matgame1", 1)
    assert not records.has_completed(results, "qplex", "matgame2", 1)

    copy = tmp_path / "results"
    run_dir = next(r.run_dir for r in records.load_runs(results) if (r.alg, r.seed) == ("qmix", 1))
    target = copy / run_dir.relative_to(results)
    target.mkdir(parents=True)
    for name in ("config.json", "run.json", "metrics.json"):
        (target / name).write_text((run_dir / name).read_text())
    assert records.has_completed(copy, "qmix", "matgame2", 1)
    run = json.loads((target / "run.json").read_text())
    (target / "run.json").write_text(json.dumps({**run, "status": "INTERRUPTED"}))
    assert not records.has_completed(copy, "qmix", "matgame2", 1)

    def cli(*identity: str) -> int:
        return subprocess.run([sys.executable, "-m", "tools.records", "--results-dir", str(copy), str(results),
                               "--completed", *identity], cwd=MAIN.parents[1], capture_output=True).returncode
    assert cli("qmix", "matgame2", "1") == 0   # the second results dir holds it
    assert cli("vdn", "matgame2", "2") == 0
    assert cli("vdn", "matgame2", "5") == 1


def test_rolling_crossing_against_brute_force():
    """The first step whose trailing window's mean reaches the level, against a loop over every window."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, window = int(rng.integers(1, 30)), int(rng.integers(1, 8))
        steps = np.cumsum(rng.integers(1, 5, n)) * 1000.0
        values = rng.choice([0.8, 0.85, 0.9, 0.95, 1.0], n)
        expected = next((steps[i] for i in range(window - 1, n)
                         if sum(values[i - window + 1:i + 1]) / window >= 0.9 - 1e-12), None)
        assert tables.rolling_crossing(steps, values, 0.9, window) == expected
    # exactly at the level counts, one lucky evaluation does not
    assert tables.rolling_crossing(np.arange(1.0, 4.0), np.array([0.9, 0.9, 0.9]), 0.9, 3) == 3.0
    assert tables.rolling_crossing(np.arange(1.0, 4.0), np.array([0.5, 1.0, 0.5]), 0.9, 2) is None


def test_threshold_table_per_run(tmp_path):
    """Per run: the rolling crossing, and the mean and share >= the level over the span (inclusive)."""
    write_record(tmp_path, 1, 1, "COMPLETED", [1_000_000 * i for i in range(1, 11)],
                 [0.5, 0.7, 0.85, 0.95, 0.9, 0.92, 0.88, 0.96, 0.91, 0.94])
    write_record(tmp_path, 2, 2, "COMPLETED", [1_000_000 * i for i in range(1, 11)], [0.6] * 10)
    table = records.load_table([tmp_path])
    rows = tables.threshold_rows(table, "test_battle_won_mean", 0.9, 3, (8_000_000, 10_000_000))
    # 0.85, 0.95, 0.9 at 3M-5M is the first window of three with a mean of 0.9
    assert rows[0] == ["mazero", "3m", "1", "1", "5.00M", f"{(0.96 + 0.91 + 0.94) / 3:.2f}", "100%", "3"]
    assert rows[1][4:] == ["never", "0.60", "0%", "3"]
    # a run stopped at 2M and resumed (its second record) is one curve: the window spans the resume
    resumed = tmp_path / "resumed"
    write_record(resumed, 1, 1, "INTERRUPTED", [1_000_000, 2_000_000], [0.95, 0.85])
    write_record(resumed, 2, 1, "COMPLETED", [3_000_000, 9_000_000], [0.9, 0.95])
    for run_id, model_dir, resumed_from in ((1, "models/a", None), (2, "models/b", "models/a/2000000")):
        (resumed / "sacred" / "mazero" / "sc2-smax_3m" / str(run_id) / "info.json").write_text(
            json.dumps({"model_dir": model_dir, "resumed_from": resumed_from}))
    joined = records.load_table([resumed], statuses=records.statuses(True))
    (row,) = tables.threshold_rows(joined, "test_battle_won_mean", 0.9, 3, (8_000_000, 10_000_000))
    assert row[3:] == ["1, 2", "3.00M", "0.95", "100%", "1"]  # (0.95 + 0.85 + 0.9) / 3: the second start alone never has 3
    text = tables.threshold_table(table, "test_battle_won_mean", 0.9, 3, (8_000_000, 10_000_000))
    assert "mean of 3 evaluations first >= 0.9 at" in text and "share >= 0.9 8M-10M" in text


def link_starts(results: Path, links: dict[int, tuple[str, str | None]]) -> None:
    """info.json of each record: run id -> (its model dir, the checkpoint it resumed from)."""
    for run_id, (model_dir, resumed_from) in links.items():
        (results / "sacred" / "mazero" / "sc2-smax_3m" / str(run_id) / "info.json").write_text(
            json.dumps({"model_dir": model_dir, "resumed_from": resumed_from}))


def test_a_run_resumed_to_completion_is_loaded_whole_and_an_unfinished_one_is_not(tmp_path):
    """Seed 1 was stopped twice (INTERRUPTED, then RUNNING when its machine went away) and resumed to
    completion: by default all three starts load, as one lineage. Seed 2 was stopped and never
    finished: none of it loads unless asked for."""
    write_record(tmp_path, 1, 1, "INTERRUPTED", [10, 20], [0.1, 0.2])
    write_record(tmp_path, 2, 1, "RUNNING", [30, 40], [0.3, 0.4])
    write_record(tmp_path, 3, 1, "COMPLETED", [50, 60], [0.5, 0.6])
    write_record(tmp_path, 4, 2, "INTERRUPTED", [10, 20], [0.0, 0.0])
    link_starts(tmp_path, {1: ("models/a", None), 2: ("models/b", "models/a/20/checkpoint.pt"),
                           3: ("models/c", "models/b/40/checkpoint.pt"), 4: ("models/d", None)})
    finished = records.load_runs(tmp_path)
    assert sorted(int(r.run_dir.name) for r in finished) == [1, 2, 3]
    table = records.load_table([tmp_path])
    assert table["lineage"].nunique() == 1
    assert table.sort_values("step")["value"].tolist() == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert records.has_completed(tmp_path, "mazero", "3m", 1) and not records.has_completed(tmp_path, "mazero", "3m", 2)
    everything = records.load_table([tmp_path], statuses=records.statuses(True))
    assert sorted(everything["seed"].unique()) == [1, 2]


def test_runs_table_reads_a_resumed_run_as_one_row(tmp_path):
    """Four starts of seed 1 (run ids 8-11, stopped three times and resumed to completion) are one
    row: the records named by their ends in the order they trained (not 10, 11, 8, 9), the newest
    start's last step and status, final, last-k and best over the whole curve."""
    for run_id, status, steps in ((8, "INTERRUPTED", [10, 20]), (9, "RUNNING", [30, 40]),
                                  (10, "INTERRUPTED", [50, 60]), (11, "COMPLETED", [70, 80])):
        write_record(tmp_path, run_id, 1, status, steps, [s / 100 for s in steps])
    write_record(tmp_path, 12, 2, "COMPLETED", [40, 80], [0.9, 0.3])
    link_starts(tmp_path, {8: ("models/a", None), 9: ("models/b", "models/a/20"), 10: ("models/c", "models/b/40"),
                           11: ("models/d", "models/c/60"), 12: ("models/e", None)})
    rows = tables.run_rows(records.load_table([tmp_path]), "test_battle_won_mean", last=3)
    assert rows == [["mazero", "3m", "1", "8 to 11 (4 starts)", "80 (COMPLETED)", "0.80", "0.70", "0.80 (t=0k)", "-"],
                    ["mazero", "3m", "2", "12", "80 (COMPLETED)", "0.30", "0.60", "0.90 (t=0k)", "-"]]


def test_medians_table_reads_a_resumed_run_as_one_row(tmp_path):
    """Seed 1 stopped at 20 and resumed: one row, its median over both starts' values (0.3, not
    0.15 and 0.35 in two rows); seed 2, never resumed, is its own row."""
    write_record(tmp_path, 3, 1, "INTERRUPTED", [10, 20], [0.1, 0.2])
    write_record(tmp_path, 4, 1, "COMPLETED", [30, 40, 50], [0.3, 0.4, 0.5])
    write_record(tmp_path, 5, 2, "COMPLETED", [10, 20], [0.6, 0.7])
    link_starts(tmp_path, {3: ("models/a", None), 4: ("models/b", "models/a/20"), 5: ("models/c", None)})
    rows = tables.median_rows(records.load_table([tmp_path]), ["test_battle_won_mean"])
    assert rows == [["mazero", "3m", "1", "3, 4", "10-50", "5", "0.3"], ["mazero", "3m", "2", "5", "10-20", "2", "0.65"]]


def test_steps_a_later_start_trained_again_are_taken_from_the_later_start(tmp_path):
    """A start that went on past its last checkpoint (at 40) logged 50 and 60, which the next start,
    resumed from 40, trained again: the curve holds each step once, the later start's value."""
    write_record(tmp_path, 1, 1, "RUNNING", [20, 40, 50, 60], [0.2, 0.4, 0.9, 0.9])
    write_record(tmp_path, 2, 1, "COMPLETED", [50, 60, 70], [0.5, 0.6, 0.7])
    link_starts(tmp_path, {1: ("models/a", None), 2: ("models/b", "models/a/40")})
    curve = records.load_table([tmp_path]).sort_values("step")
    assert list(zip(curve["step"], curve["value"])) == [(20, 0.2), (40, 0.4), (50, 0.5), (60, 0.6), (70, 0.7)]
    assert records.resumed_step("models/a/40/checkpoint.pt") == 40 and records.resumed_step("models/a/x") is None


def test_a_half_written_json_is_read_again_and_a_broken_one_is_named(tmp_path):
    """Sacred rewrites a live run's metrics.json in place; a reader that meets it half-written reads
    it again, and a file that stays broken is reported by its path."""
    import threading

    path = tmp_path / "metrics.json"
    path.write_text('{"test_battle_won_mean": {"steps": [1')
    threading.Timer(0.3, lambda: path.write_text('{"a": 1}')).start()
    assert records.read_json(path) == {"a": 1}
    path.write_text("{")
    with pytest.raises(ValueError, match="metrics.json is not valid json"):
        records.read_json(path, tries=2)

"""`tools.search_quality` on a real (tiny) MAZero checkpoint trained on SMAX 3m: every sampled root
child is played in branched copies of the real environment, and the summary's quantities obey
their definitions; the rank correlation matches scipy's."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr
from test_smoke_runs import ENVS, TINY_MAZERO, run_main

from tools import search_quality as sq


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("train")
    done = run_main("mazero", "sc2", results, *ENVS["sc2"], *TINY_MAZERO, "save_model=True")
    assert done.returncode == 0, done.stderr[-2000:]
    (models,) = list((results / "models").iterdir())
    return models


def test_spearman_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = rng.integers(0, 4, 7).astype(float), rng.normal(size=7)
        if x.std() == 0:
            continue
        assert sq.spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert np.isnan(sq.spearman(np.ones(5), np.arange(5.0)))


def test_measures_each_root_child_in_the_real_environment(model_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "roots.csv"
    sq.main([str(model_dir), "--roots", "3", "--every", "2", "--rollouts", "3", "--out", str(out)])
    table = pd.read_csv(out)
    assert len(table) == 3 and (table["t"] % 2 == 0).all()
    assert table["children"].between(1, 10).all()
    corr = table[["q_rank_corr", "reward_rank_corr"]].stack().dropna()
    assert corr.between(-1.0, 1.0).all()
    # the best child's Monte Carlo value bounds every pick's; gains are relative to the children's mean
    assert (table["best_child_gain"] >= table["search_pick_gain"] - 1e-9).all()
    assert (table["best_child_gain"] >= table["prior_pick_gain"] - 1e-9).all()
    assert (table["best_child_gain"] >= -1e-9).all() and (table["mc_q_stderr"] >= 0).all()
    assert np.isfinite(table["visit_target_gain"]).all()
    assert table["mc_q_mean"].between(0.0, 20.0).all()  # SMAX returns are scaled to [0, 20]
    assert "q_rank_corr" in capsys.readouterr().out
    sq.main(["--table", str(out)])  # the docs' table: mean +- 95% half-width over the roots
    row = capsys.readouterr().out.strip().splitlines()[-1].strip("| ").split(" | ")
    assert row[0] == "roots" and row[1] == "3"
    mean, half = map(float, row[2 + sq.TABLE_COLUMNS.index("mc_q_mean")].split(" ± "))
    values = table["mc_q_mean"]
    assert mean == pytest.approx(values.mean(), abs=1e-3)
    assert half == pytest.approx(1.96 * values.std(ddof=1) / np.sqrt(3), abs=1e-3)


def test_rollout_returns_are_the_discounted_sums_of_a_manual_replay(model_dir: Path) -> None:
    """The same branch seed and policy generator replay the same copies, so stepping them by hand
    and summing gamma^t r_t until each copy's own end must give rollout_returns' values."""
    agent, env = sq.load_agent(model_dir, 0, seed=5)
    first = np.array([env.get_avail_actions()[0].argmax(-1)] * 3)
    agent.generator.manual_seed(1)
    returns, first_reward = sq.rollout_returns(env.branch(0, 3, seed=9), first, agent)
    agent.generator.manual_seed(1)
    copies, manual, actions = env.branch(0, 3, seed=9), [], first
    active, totals, t = np.ones(3, dtype=bool), np.zeros(3), 0
    while active.any():
        rewards, terminated, _ = copies.step(actions, active)
        manual.append(rewards.copy())
        totals += np.where(active, agent.gamma ** t * rewards, 0.0)
        active, t = active & ~terminated, t + 1
        if active.any():
            actions = agent.prior_actions(copies.get_obs(), copies.get_avail_actions())
    np.testing.assert_allclose(returns, totals, rtol=1e-6)
    np.testing.assert_allclose(first_reward, manual[0])


def test_search_overrides_change_the_measured_search_and_nothing_else(model_dir: Path) -> None:
    agent, _ = sq.load_agent(model_dir, 0, seed=0, overrides=sq.search_overrides(["num_simulations=7", "mcts_rho=0"]))
    assert agent.search.config.num_simulations == 7 and agent.search.config.rho == 0.0
    default, _ = sq.load_agent(model_dir, 0, seed=0)
    assert default.search.config.num_simulations == 4  # the tiny run's own


def test_bad_arguments_fail_before_work(model_dir: Path) -> None:
    with pytest.raises(SystemExit):
        sq.main([str(model_dir), "--rollouts", "0"])
    with pytest.raises(SystemExit, match="lr=0.1"):
        sq.main([str(model_dir), "--", "lr=0.1"])
    with pytest.raises(SystemExit, match="num_simulations"):
        sq.main([str(model_dir), "--roots", "2", "--", "num_simulations"])


def test_visit_marginals_match_a_brute_force_sum() -> None:
    rng = np.random.default_rng(3)
    joint = torch.as_tensor(rng.integers(0, 4, (6, 3)))
    weights = torch.as_tensor(rng.integers(0, 5, 6)).double()
    marginals = sq.visit_marginals(joint, weights, 4)
    expected = np.zeros((3, 4))
    for child in range(6):
        for agent in range(3):
            expected[agent, int(joint[child, agent])] += float(weights[child]) / float(weights.sum())
    np.testing.assert_allclose(marginals.numpy(), expected, atol=1e-12)
    probs = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.25, 0.25, 0.5]], dtype=torch.float64)
    assert sq.mean_entropy(probs, torch.tensor([True, False, True])) == pytest.approx(
        (np.log(2) + (2 * 0.25 * np.log(4) + 0.5 * np.log(2))) / 2)


def test_expected_targets_are_entropies_of_valid_marginals(model_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "targets.csv"
    sq.main([str(model_dir), "--roots", "2", "--rollouts", "1", "--targets", "3", "--out", str(out)])
    table = pd.read_csv(out)
    columns = ["prior_entropy", "target_entropy", "noisy_target_entropy"]
    # SMAX 3m has 8 actions per agent, so no marginal's entropy can exceed log 8
    assert table[columns].stack().between(0.0, np.log(8) + 1e-9).all() and len(table) == 2
    capsys.readouterr()
    sq.main(["--table", str(out), "--columns", *columns])
    row = capsys.readouterr().out.strip().splitlines()[-1].strip("| ").split(" | ")
    assert float(row[2].split(" ± ")[0]) == pytest.approx(table["prior_entropy"].mean(), abs=1e-3)
    with pytest.raises(SystemExit, match="no column"):
        sq.main(["--table", str(out), "--columns", "not_measured"])
    with pytest.raises(SystemExit):
        sq.main([str(model_dir), "--targets", "-1"])

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
    assert table["greedy_joint_prob"].between(0.0, 1.0).all() and table["greedy_agreement"].between(0.0, 1.0).all()
    # playing the greedy joint action means sampling it first
    assert (table["search_picks_greedy"] <= table["greedy_in_candidates"]).all()
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


def test_value_error_floor_is_the_best_constant_predictions_error() -> None:
    """The median minimises the mean absolute error, and some sample attains the minimum: so the
    floor is the least mean |c - z| over the samples c, and no prediction's error is below it."""
    rng = np.random.default_rng(7)
    for size in (2, 3, 8, 9):
        z = rng.normal(3.0, 2.0, size)
        best = min(np.abs(c - z).mean() for c in z)
        for prediction in (z.mean(), 0.0, 10.0, float(np.median(z))):
            stats = sq.value_error_against_floor(prediction, z)
            assert stats["value_error_floor"] == pytest.approx(best, abs=1e-12)
            assert stats["value_error"] == pytest.approx(np.abs(prediction - z).mean(), abs=1e-12)
            assert stats["value_error"] >= stats["value_error_floor"] - 1e-12
            assert stats["value_bias"] == pytest.approx(prediction - z.mean(), abs=1e-12)


@pytest.mark.parametrize("td_steps, self_play", [(3, False), (1000, False), (3, True)])
def test_n_step_value_samples_are_a_manual_replays_discounted_rewards_and_bootstrap(
        model_dir: Path, td_steps: int, self_play: bool) -> None:
    """Replayed by hand with the same branch seed and generator: sum_i gamma^i r_i over the steps a
    copy played, plus gamma^n v_target(o_{t+n}) when it is still alive after n steps (td_steps=1000
    plays every copy to its terminal step, where the bootstrap must be 0). Self-play searches with
    root noise and samples the visits at visit_temperature."""
    agent, env = sq.load_agent(model_dir, 0, seed=3)
    agent.td_steps, agent.visit_temperature = td_steps, 0.5
    agent.generator.manual_seed(2)
    z = sq.n_step_value_samples(env, agent, 4, seed=11, self_play=self_play)
    assert agent.generator.initial_seed() == 2 and torch.equal(agent.generator.get_state(),
                                                                torch.Generator().manual_seed(2).get_state())
    generator = torch.Generator().manual_seed(11)  # the samples' own stream: the agent's is untouched
    copies = env.branch(0, 4, seed=11)
    expected, alive = np.zeros(4), np.ones(4, dtype=bool)
    for step in range(td_steps):
        if not alive.any():
            break
        live = np.flatnonzero(alive)
        inputs, avail, mask = agent.model_inputs(copies.get_obs()[live], copies.get_avail_actions()[live])
        result = agent.search.search(agent.model, inputs, avail, mask, generator, add_noise=self_play)
        chosen = (sq.select_action_train(result, 0.5, generator) if self_play
                  else sq.select_action_eval(result, generator))
        actions = np.zeros((4, avail.shape[1]), dtype=np.int64)
        actions[live] = agent.inputs.view.to_env(chosen).numpy()
        rewards, terminated, _ = copies.step(actions, alive)
        expected[live] += agent.gamma ** step * rewards[live]
        alive &= ~terminated
    if td_steps == 1000:
        assert not alive.any()  # every copy ended, so z is its whole discounted return
    else:
        inputs, _, mask = agent.model_inputs(copies.get_obs(), copies.get_avail_actions())
        with torch.no_grad():
            values = agent.target_model.initial_inference(inputs, mask).value.double().numpy()
        expected += np.where(alive, agent.gamma ** td_steps * values, 0.0)
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-5)


def test_value_samples_add_the_roots_value_error_and_its_floor(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "values.csv"
    sq.main([str(model_dir), "--roots", "2", "--rollouts", "1", "--value-samples", "3", "--out", str(out)])
    table = pd.read_csv(out)
    assert (table["value_error"] >= table["value_error_floor"] - 1e-9).all() and len(table) == 2
    assert (table["value_error_floor"] >= 0).all()
    np.testing.assert_allclose(table["value_bias"], table["root_value_pred"] - table["value_target_mean"], atol=1e-6)
    assert np.isfinite(table["value_distribution_mean"]).all()
    summary = sq.summarise(table)
    assert summary.loc["value_state_error", "mean"] == pytest.approx(
        (table["value_distribution_mean"] - table["value_target_mean"]).abs().mean())
    # the same roots whoever plays the copies: only the value samples differ
    other = tmp_path / "self_play.csv"
    sq.main([str(model_dir), "--roots", "2", "--rollouts", "1", "--value-samples", "3", "--value-policy", "self-play",
             "--out", str(other)])
    pd.testing.assert_frame_equal(pd.read_csv(other)[["episode", "t", "root_value_pred", "mc_q_mean"]],
                                  table[["episode", "t", "root_value_pred", "mc_q_mean"]])
    with pytest.raises(SystemExit):
        sq.main([str(model_dir), "--value-samples", "1"])


def test_mean_of_value_distribution_is_a_brute_force_sum_and_above_the_decoded_value() -> None:
    from utils.value_support import categorical_to_scalar, inverse_scalar_transform
    support = 5
    logits = torch.randn(4, 2 * support + 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    probs = torch.softmax(logits, -1)
    expected = [sum(float(probs[row, i]) * float(inverse_scalar_transform(torch.tensor(i - support, dtype=torch.float64)))
                    for i in range(2 * support + 1)) for row in range(4)]
    np.testing.assert_allclose(sq.mean_of_value_distribution(logits).numpy(), expected, atol=1e-10)
    one_bin = torch.full((2 * support + 1,), -1e9, dtype=torch.float64)
    one_bin[support + 3] = 0.0  # all mass on bin 3: both decodings give h^-1(3)
    assert float(sq.mean_of_value_distribution(one_bin)) == pytest.approx(float(categorical_to_scalar(one_bin, support)))
    positive = logits.clone()
    positive[:, :support + 1] = -1e9  # mass on positive bins only, where h^-1 is convex (Jensen)
    assert (sq.mean_of_value_distribution(positive) >= categorical_to_scalar(positive, support).double() - 1e-9).all()


def test_greedy_statistics_match_a_hand_count() -> None:
    """Agent 0 prefers action 2 (p = e^2 / (e^2 + 2)), agent 1 action 0 (e / (e + 2)); agent 2
    has one legal action and counts in neither the probability nor the agreement."""
    logits = torch.tensor([[0.0, 0.0, 2.0], [1.0, 0.0, 0.0], [0.0, 5.0, 5.0]])
    avail = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 0, 0]])
    children = torch.tensor([[2, 1, 0], [2, 0, 0], [0, 0, 0]])
    stats = sq.greedy_statistics(children, torch.tensor([2, 1, 0]), logits, avail)
    e = np.e
    assert stats["greedy_joint_prob"] == pytest.approx(e ** 2 / (e ** 2 + 2) * e / (e + 2))
    assert stats["greedy_in_candidates"] == 1.0 and stats["search_picks_greedy"] == 0.0
    assert stats["greedy_agreement"] == 0.5
    missed = sq.greedy_statistics(children[[0, 2]], torch.tensor([0, 0, 0]), logits, avail)
    assert missed["greedy_in_candidates"] == 0.0 and missed["search_picks_greedy"] == 0.0
    assert missed["greedy_agreement"] == 0.5

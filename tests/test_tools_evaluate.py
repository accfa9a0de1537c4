"""`tools.evaluate_checkpoints`: every saved step of a real (short) QMIX run on a matrix game is
evaluated through `src/main.py`, with the alg/env/map and the run's own overrides read from the
checkpoint; the same seed gives the same evaluation; bad input fails before any work."""
from pathlib import Path

import pandas as pd
import pytest
from test_smoke_runs import run_main

from tools import evaluate_checkpoints as ec


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("train")
    done = run_main("qmix", "matrix", results, "t_max=200", "env_args.map_name=matgame4", "batch_size=4",
                    "hidden_dim=16")
    assert done.returncode == 0, done.stderr[-2000:]
    (models,) = list((results / "models").iterdir())
    return models


def test_every_checkpoint_is_evaluated_with_its_own_config(run_dir, tmp_path):
    steps = ec.checkpoint_steps(run_dir)
    assert len(steps) >= 2
    config = ec.saved_config(run_dir, steps[-1])
    assert ec.run_identity(config) == ("qmix", "matrix", "matgame4")
    # the run's own changes travel to the evaluation (a 16-unit agent cannot load into the yaml's 64),
    # what an evaluation sets itself does not
    carried = ec.trained_overrides(config)
    assert "hidden_dim=16" in carried and "batch_size=4" in carried
    assert not any(item.split("=")[0] in ("seed", "t_max", "save_model", "results_dir") for item in carried)
    out = tmp_path / "evals.csv"
    ec.main([str(run_dir), "--episodes", "3", "--results-dir", str(tmp_path / "evals"), "--out", str(out),
             "--metric", "test_return_mean"])
    table = pd.read_csv(out)
    assert table["step"].tolist() == steps
    assert (table["episodes"] == 3).all() and (table["map"] == "matgame4").all()
    # matgame4's return per episode lies in [0, 100] (10 steps, payoffs 0..10)
    assert table["test_return_mean"].between(0.0, 100.0).all()
    # a second evaluation of the last checkpoint with the same seed reproduces it exactly
    again = ec.evaluate_run(run_dir, steps[-1:], 3, 0, tmp_path / "evals", [])
    assert again["test_return_mean"].iloc[0] == table["test_return_mean"].iloc[-1]


def test_step_selection_and_extra_overrides(run_dir, tmp_path):
    last = ec.checkpoint_steps(run_dir)[-1]
    command = ec.evaluation_command("qmix", "matrix", "matgame4", run_dir, last, 5, 7, tmp_path, ["use_cuda=False"])
    assert command[-1] == "use_cuda=False" and "test_nepisode=5" in command and "seed=7" in command
    with pytest.raises(SystemExit):
        ec.main([str(run_dir), "--from-step", str(last + 1)])  # nothing that late
    with pytest.raises(SystemExit):
        ec.main([str(run_dir / "missing")])
    with pytest.raises(SystemExit):
        ec.main([str(run_dir), "--episodes", "0"])
    with pytest.raises(RuntimeError, match="evaluation failed"):  # a misspelt key fails in the framework
        ec.evaluate_run(run_dir, [last], 2, 0, tmp_path / "bad", ["no_such_key=1"])


def test_a_matrix_game_is_evaluated_with_the_relabelling_it_was_trained_on(run_dir):
    """The relabelling comes from the run's seed; an evaluation under `--seed 0` pins the trained one."""
    from envs.args import MatrixArgs
    from envs.registry import ENV_REGISTRY
    from runners.parallel_runner import TRAIN_STREAM, episode_seeds

    config = ec.saved_config(run_dir, ec.checkpoint_steps(run_dir)[-1])
    (pin,) = ec.seed_derived_overrides(config)
    make = ENV_REGISTRY["matrix"].make_vec_env
    trained = make(MatrixArgs(map_name="matgame4"), episode_seeds(config["seed"], TRAIN_STREAM, 0, 4))
    evaluated = make(MatrixArgs(map_name="matgame4", permutation_seed=int(pin.split("=")[1])),
                     episode_seeds(0, TRAIN_STREAM, 0, 4))
    unpinned = make(MatrixArgs(map_name="matgame4"), episode_seeds(0, TRAIN_STREAM, 0, 4))  # what --seed 0 alone gives
    assert (trained.envs[0].permutations == evaluated.envs[0].permutations).all()
    assert not (trained.envs[0].permutations == unpinned.envs[0].permutations).all()


def test_a_run_whose_config_was_renamed_is_evaluated_under_the_config_named_by_the_user(run_dir, tmp_path):
    """A checkpoint saved under a config name that no longer exists: refused with a pointer to
    `--config`, then rebuilt from the named yaml plus the run's saved keys, its own name kept."""
    import shutil

    import torch

    last = ec.checkpoint_steps(run_dir)[-1]
    renamed = tmp_path / "renamed_run"
    shutil.copytree(run_dir / str(last), renamed / str(last))
    path = renamed / str(last) / "checkpoint.pt"
    state = torch.load(path, weights_only=False)
    state["config"]["name"] = "qmix_since_renamed"
    torch.save(state, path)

    with pytest.raises(SystemExit):
        ec.main([str(renamed), "--episodes", "2"])
    with pytest.raises(SystemExit):
        ec.main([str(renamed), "--episodes", "2", "--config", "no_such_alg"])
    config = ec.saved_config(renamed, last)
    assert "name='qmix_since_renamed'" in ec.trained_overrides(config, "qmix")
    table = ec.evaluate_run(renamed, [last], 3, 0, tmp_path / "evals", [], config_name="qmix")
    original = ec.evaluate_run(run_dir, [last], 3, 0, tmp_path / "evals_original", [])
    assert table["alg"].tolist() == ["qmix_since_renamed"]
    assert table["test_return_mean"].iloc[0] == original["test_return_mean"].iloc[0]


def test_a_run_resumed_across_two_starts_is_evaluated_from_both_directories(run_dir, tmp_path, capsys):
    """Each start of a resumed run writes its own model directory; the tool takes them together and
    evaluates each step from the directory that saved it. Directories of two different runs are refused."""
    results = tmp_path / "resumed"
    done = run_main("qmix", "matrix", results, f"checkpoint_path={run_dir}", "t_max=400", "batch_size=4",
                    "hidden_dim=16")
    assert done.returncode == 0, done.stderr[-2000:]
    (resumed,) = list((results / "models").iterdir())
    first, second = ec.checkpoint_steps(run_dir), ec.checkpoint_steps(resumed)
    assert min(second) > max(first)
    out = tmp_path / "chain.csv"
    ec.main([str(run_dir), str(resumed), "--episodes", "2", "--steps", str(first[-1]), str(second[-1]),
             "--results-dir", str(tmp_path / "evals"), "--out", str(out), "--metric", "test_return_mean"])
    assert pd.read_csv(out)["step"].tolist() == [first[-1], second[-1]]

    other = tmp_path / "other"
    done = run_main("qmix", "matrix", other, "t_max=100", "env_args.map_name=matgame4", "batch_size=4",
                    "hidden_dim=16", "seed=5")
    assert done.returncode == 0, done.stderr[-2000:]
    (other_dir,) = list((other / "models").iterdir())
    with pytest.raises(SystemExit):
        ec.main([str(run_dir), str(other_dir), "--episodes", "2"])
    assert "not one run" in capsys.readouterr().err


def test_steps_are_taken_from_the_first_checkpoint_that_reaches_them():
    """`--reach`: a run stopped at 72k has no 100k cell yet; the nearest checkpoint would quote 72k as 100k."""
    saved = [1_200, 12_600, 25_133, 37_838, 50_391, 62_552, 72_113]
    assert ec.select_steps(saved, [25_000, 50_000, 100_000], 0, None) == [25_133, 50_391, 72_113]
    assert ec.select_steps(saved, [25_000, 50_000, 100_000], 0, 12_500) == [25_133, 50_391]
    assert ec.select_steps(saved, [25_000, 37_838], 0, 0) == [37_838]          # only an exact hit within 0
    assert ec.select_steps(saved, [60_000], 0, 12_500) == [62_552]             # at or after, not the nearer 50k
    assert ec.select_steps(saved, None, 30_000, None) == [37_838, 50_391, 62_552, 72_113]


def test_append_evaluates_only_the_checkpoints_the_table_lacks(run_dir, tmp_path, capsys):
    steps = ec.checkpoint_steps(run_dir)
    out, evals = tmp_path / "evals.csv", tmp_path / "evals"
    common = [str(run_dir), "--episodes", "2", "--results-dir", str(evals), "--out", str(out), "--append"]
    ec.main([*common, "--steps", str(steps[0])])
    first = pd.read_csv(out)
    assert first["step"].tolist() == [steps[0]]
    ec.main([*common, "--steps", *map(str, steps)])
    table = pd.read_csv(out)
    assert table["step"].tolist() == steps
    assert table.iloc[0].equals(first.iloc[0])                                 # the kept row, untouched
    assert len(ec.sacred_runs(evals)) == len(steps)                            # the first step ran once
    ec.main([*common, "--steps", *map(str, steps)])
    assert "nothing new to evaluate" in capsys.readouterr().out
    assert len(ec.sacred_runs(evals)) == len(steps)

    with pytest.raises(SystemExit):                                            # another episode count
        ec.main([str(run_dir), "--episodes", "3", "--out", str(out), "--append"])
    table.assign(alg="qplex").to_csv(out, index=False)
    with pytest.raises(SystemExit):                                            # another run's table
        ec.main(common)
    assert "not of this run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ec.main([str(run_dir), "--append"])                                    # nowhere to append
    with pytest.raises(SystemExit):
        ec.main([str(run_dir), "--reach", "10"])                               # --reach without --steps

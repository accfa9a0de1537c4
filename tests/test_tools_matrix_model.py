"""`tools.matrix_model` on a real (tiny) MAZero checkpoint of matgame3: the payoffs are the run's own
relabelled game, each row's reward and value are the model's for that joint action alone, and the
summary follows its definitions on a hand-made table."""
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_smoke_runs import TINY_MAZERO, run_main

from envs.registry import ENV_REGISTRY
from modules.mazero.build import input_pipeline
from runners.parallel_runner import ParallelRunner
from tools import matrix_model as mm
from tools.mazero_checkpoint import mazero_models, read_mazero_checkpoint
from utils.logging import Logger, get_console_logger


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("train")
    done = run_main("mazero_matrix", "matrix", results, "t_max=120", "env_args.map_name=matgame3", "seed=3",
                    *TINY_MAZERO, "reanalyse_cache=False", "save_model=True")
    assert done.returncode == 0, done.stderr[-2000:]
    (models,) = list((results / "models").iterdir())
    return models


def test_rows_are_the_runs_game_and_the_models_single_step_predictions(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "first.csv"
    mm.main([str(model_dir), "--out", str(out)])
    table = pd.read_csv(out)
    assert len(table) == 9 and sorted(zip(table["a0"], table["a1"])) == [(i, j) for i in range(3) for j in range(3)]

    state, args = read_mazero_checkpoint(model_dir, 0)
    spec = ENV_REGISTRY["matrix"]
    runner = ParallelRunner(args, Logger(get_console_logger("test")),
                            lambda seeds: spec.make_vec_env(spec.args_model.model_validate(args.env_args), seeds))
    game = runner.env.envs[0].payoff                        # the game the run itself played
    assert table["payoff"].tolist() == [float(game[a0, a1]) for a0, a1 in zip(table["a0"], table["a1"])]
    assert sorted(table["payoff"]) == sorted([10, -10, -10, -10, 9, 0, -10, 0, 9])

    args.env_info = runner.get_env_info()
    model, _ = mazero_models(state, args)
    runner.env.reset()
    frames = torch.as_tensor(runner.env.get_obs()[:1], dtype=torch.float32).unsqueeze(1)
    inputs, avail, mask = input_pipeline(args)(frames, torch.as_tensor(runner.env.get_avail_actions()[:1]))
    prior = torch.softmax(model.prior_logits(inputs, avail)[0].double(), -1)
    with torch.no_grad():
        latent = model.initial_inference(inputs, mask).latent
        for row in table.itertuples():                      # one joint action at a time
            step = model.recurrent_inference(latent, torch.tensor([[row.a0, row.a1]]), mask)
            assert row.reward == pytest.approx(float(step.reward), abs=1e-5)
            assert row.next_value == pytest.approx(float(step.value), abs=1e-5)
            assert row.q == pytest.approx(row.reward + args.gamma * row.next_value, abs=1e-9)
            assert row.prior == pytest.approx(float(prior[0, row.a0] * prior[1, row.a1]), abs=1e-9)
    assert table["prior"].sum() == pytest.approx(1.0)


def test_summary_of_a_hand_made_table(capsys, tmp_path: Path) -> None:
    table = pd.DataFrame({
        "a0": [0, 0, 1, 1], "a1": [0, 1, 0, 1],
        "payoff": [10.0, -10.0, 0.0, 9.0],
        "reward": [7.0, -9.0, 0.5, 9.0],
        "next_value": [30.0, 31.0, 32.5, 33.0],
        "q": [36.7, 21.69, 32.675, 41.67],
        "prior": [0.1, 0.1, 0.2, 0.6],
    })
    summary = mm.summarise(table)
    assert summary == pytest.approx({"reward_error_max": 3.0, "next_value_spread": 3.0,
                                     "optimum_q_margin": 36.7 - 41.67, "optimum_prior": 0.1,
                                     "prior_choice_payoff": 9.0})
    path = tmp_path / "variant.csv"
    table.to_csv(path, index=False)
    mm.main(["--table", str(path)])
    assert capsys.readouterr().out.strip().splitlines()[-1] == "| variant | 3.00 | 3.00 | -4.97 | 0.10 | 9.00 |"

"""`tools.role_clusterings`: re-clustering a run's frozen action representations gives the role
spaces the framework's own rule gives, read from a real (short) RODE checkpoint on SMAX 3m."""
from pathlib import Path

import pytest
import torch
from test_smoke_runs import run_main

from tools import role_clusterings as rc

# SMAX 3m: moves 0-3, stop 4 (the no-op a dead agent keeps), attacks 5-7
NOOP, MOVES = 4, (0, 1, 2, 3)


def two_groups() -> torch.Tensor:
    """Movement actions and stop around one point, the attacks around a distant one."""
    torch.manual_seed(0)
    centres = torch.tensor([[0.0, 0.0, 0.0], [10.0, 10.0, 0.0]])
    members = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1])
    return centres[members] + 0.1 * torch.randn(8, 3)


def test_two_clusters_of_moves_and_attacks_give_a_movement_role_and_an_every_action_role():
    outcomes = rc.clusterings(two_groups(), 2, 10, NOOP, MOVES)
    # worked by hand from RODE's rule: {moves, stop} has 4 actions besides the no-op, so it stays
    # (and gains the moves it already has); {attacks} has 3, so it gains every move; both keep the no-op
    assert outcomes == {("11111000", "11111111"): 10}
    # one cluster holds everything: a single role with every action
    assert rc.clusterings(two_groups(), 1, 3, NOOP, MOVES) == {("11111111",): 3}


def test_an_attack_split_from_the_others_leaves_no_every_action_role():
    points = two_groups()
    points[7] = torch.tensor([0.0, 10.0, 20.0])  # attack 2 far from everything
    outcomes = rc.clusterings(points, 3, 10, NOOP, MOVES)
    # {attacks 0, 1} has exactly two actions besides the no-op: kept as it is; {attack 2} has one: no
    # role of its own, so it joins the movement actions as one more role (the framework's extension
    # of the official rule, which would leave attack 2 in no role)
    assert outcomes == {("00001110", "11111000", "11111001"): 10}


@pytest.fixture(scope="module")
def rode_run(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("rode")
    done = run_main("rode", "sc2", results, "t_max=400", "env_args.backend=smax", "env_args.map_name=3m",
                    "batch_size=2", "role_action_spaces_update_start=150", "hidden_dim=16")
    assert done.returncode == 0, done.stderr[-2000:]
    (models,) = list((results / "models").iterdir())
    return models


def test_report_on_a_real_run(rode_run, capsys):
    rc.main([str(rode_run), "--clusters", "1", "5", "--kmeans-seeds", "3"])
    lines = capsys.readouterr().out.splitlines()
    assert "n_role_clusters=5, clustered at" in lines[0]
    state = rc.load_checkpoint(rode_run / str(rc.checkpoint_steps(rode_run)[-1]) / rc.CHECKPOINT_FILE)
    roles = state["learner"]["mac"]["roles_net"]
    assert lines[1].split(": ")[1] == " ".join(rc.distinct_spaces(roles["spaces"]))
    assert lines[2] == "  k=1: 11111111 (3/3)"
    # every k=5 outcome is a set of role spaces that each keep the no-op
    for spaces in rc.clusterings(roles["action_repr"], 5, 3, NOOP, MOVES):
        assert all(space[NOOP] == "1" for space in spaces)
    assert rc.env_actions(state["config"]) == (NOOP, MOVES)


def test_bad_input_fails_before_any_work(tmp_path):
    with pytest.raises(SystemExit):
        rc.main([str(tmp_path / "missing")])
    with pytest.raises(SystemExit):
        rc.main([str(tmp_path)])  # no checkpoints
    with pytest.raises(SystemExit):
        rc.main([str(tmp_path), "--clusters", "0"])

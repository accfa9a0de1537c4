"""Checkpoint files: an explicit step must exist, damaged files are named (and skipped only when the
latest is asked for), a checkpoint of another algorithm or map is refused, writes are atomic."""
import os
import re
from pathlib import Path

import pytest
import torch

from config.loader import ConfigError
from utils import checkpoint as ckpt
from utils.checkpoint import CheckpointError
from utils.divergence import DivergenceError, check_finite_state, check_finite_stats
from utils.preflight import preflight

CONFIG = {"name": "qmix", "learner": "q_learner", "env": "matrix", "env_args": {"map_name": "matgame4"}}


def make_run(tmp_path: Path, steps=(100, 200)) -> Path:
    for step in steps:
        ckpt.save_checkpoint(tmp_path / str(step), {"t_env": step, "learner": {}, "config": CONFIG})
    return tmp_path


def test_an_explicit_load_step_that_was_not_saved_is_an_error_listing_the_saved_steps(tmp_path):
    run = make_run(tmp_path)
    with pytest.raises(CheckpointError, match=r"load_step=999 .*\[100, 200\]"):
        ckpt.find_checkpoint(run, 999)
    assert ckpt.find_checkpoint(run, 100) == run / "100" / ckpt.CHECKPOINT_FILE
    assert ckpt.find_checkpoint(run, 0) == run / "200" / ckpt.CHECKPOINT_FILE


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_an_unreadable_checkpoint_is_an_error_naming_the_file(tmp_path, damage):
    path = make_run(tmp_path, steps=(100,)) / "100" / ckpt.CHECKPOINT_FILE
    data = path.read_bytes()
    path.write_bytes({"garbage": bytes(range(256)) * 4, "truncated": data[: len(data) // 2], "empty": b""}[damage])
    with pytest.raises(CheckpointError, match=re.escape(f"cannot read checkpoint '{path}'")):
        ckpt.load_checkpoint(path)


def test_latest_falls_back_to_the_newest_readable_checkpoint_and_says_so(tmp_path):
    run = make_run(tmp_path, steps=(100, 200, 300))
    (run / "300" / ckpt.CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    (run / "200" / ckpt.CHECKPOINT_FILE).write_bytes(b"")
    warnings: list[str] = []
    path, state = ckpt.load_readable_checkpoint(run, 0, warn=warnings.append)
    assert path == run / "100" / ckpt.CHECKPOINT_FILE and state["t_env"] == 100
    assert any(str(run / "300") in w for w in warnings) and any(str(run / "200") in w for w in warnings)
    assert "newest readable" in warnings[-1]


def test_an_explicit_step_never_falls_back(tmp_path):
    run = make_run(tmp_path)
    (run / "200" / ckpt.CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="200"):
        ckpt.load_readable_checkpoint(run, 200, warn=lambda _: None)
    with pytest.raises(CheckpointError, match="200"):
        ckpt.load_readable_checkpoint(run / "200", 0, warn=lambda _: None)


def test_no_readable_checkpoint_is_an_error_listing_every_failure(tmp_path):
    run = make_run(tmp_path)
    for step in (100, 200):
        (run / str(step) / ckpt.CHECKPOINT_FILE).write_bytes(b"x")
    with pytest.raises(CheckpointError, match=r"(?s)no readable checkpoint.*200.*100"):
        ckpt.load_readable_checkpoint(run, 0, warn=lambda _: None)


@pytest.mark.parametrize(
    "key, value, expected",
    [("name", "mazero", "name: checkpoint 'qmix', this run 'mazero'"),
     ("learner", "mazero_learner", "learner: checkpoint 'q_learner', this run 'mazero_learner'"),
     ("env", "sc2", "env: checkpoint 'matrix', this run 'sc2'"),
     ("env_args", {"map_name": "matgame1"}, "env_args.map_name: checkpoint 'matgame4', this run 'matgame1'")],
)
def test_a_checkpoint_of_another_algorithm_or_map_is_refused_naming_both_values(key, value, expected):
    ckpt.check_compatible(CONFIG, {**CONFIG, "t_max": 5}, "c.pt")  # other keys may differ
    with pytest.raises(CheckpointError, match="does not match") as err:
        ckpt.check_compatible(CONFIG, {**CONFIG, key: value}, "c.pt")
    assert expected in str(err.value)


def test_writes_go_through_a_unique_temporary_file(tmp_path, monkeypatch):
    written: list[Path] = []
    real_save = torch.save

    def recording_save(obj, path):
        written.append(Path(path))
        real_save(obj, path)

    monkeypatch.setattr(ckpt.torch, "save", recording_save)
    ckpt.save_checkpoint(tmp_path, {"learner": {}})
    ckpt.save_checkpoint(tmp_path, {"learner": {}})
    assert written[0] != written[1] and all(str(os.getpid()) in p.name for p in written)
    assert all(p.parent == tmp_path and p.name != ckpt.CHECKPOINT_FILE for p in written)
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.CHECKPOINT_FILE]


def test_a_failed_write_keeps_the_previous_checkpoint_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    ckpt.save_checkpoint(tmp_path, {"learner": {}, "t_env": 1})

    def failing_save(obj, path):
        Path(path).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", failing_save)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(tmp_path, {"learner": {}, "t_env": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.CHECKPOINT_FILE]
    assert ckpt.load_checkpoint(tmp_path / ckpt.CHECKPOINT_FILE)["t_env"] == 1


@pytest.mark.parametrize("key", ["loss", "grad_norm", "pg_loss", "critic_loss"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_loss_or_grad_norm_is_a_divergence_naming_it_and_the_step(key, value):
    check_finite_stats({"loss": 1.0, "grad_norm": 2.0, "td_error_abs": 0.5}, 7)
    with pytest.raises(DivergenceError, match=f"{key}=.* at t_env=123"):
        check_finite_stats({"loss": 1.0, key: value}, 123)


def test_non_finite_weights_are_a_divergence_naming_the_tensor():
    state = {"mac": {"fc.weight": torch.ones(2, 2)}, "optimiser": {"state": {0: {"exp_avg": torch.zeros(3)}}},
             "updates": 4, "mask": torch.tensor([1, 0])}
    check_finite_state(state, 5)
    state["optimiser"]["state"][0]["exp_avg"][1] = float("nan")
    with pytest.raises(DivergenceError, match=r"optimiser\.state\.0\.exp_avg.*t_env=5"):
        check_finite_state(state, 5)


def resolved(**updates):
    from config.loader import load_layers, recursive_update
    from config.resolve import resolve_config

    return resolve_config(recursive_update(load_layers("qmix", "matrix"), updates))


def test_preflight_refuses_a_missing_or_empty_checkpoint_path_and_a_missing_step(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        preflight(resolved(checkpoint_path=str(tmp_path / "nowhere")))
    with pytest.raises(ConfigError, match="no '<t_env>/checkpoint.pt'"):
        preflight(resolved(checkpoint_path=str(tmp_path)))
    run = make_run(tmp_path / "run")
    with pytest.raises(ConfigError, match=r"load_step=150 .*\[100, 200\]"):
        preflight(resolved(checkpoint_path=str(run), load_step=150))
    preflight(resolved(checkpoint_path=str(run), load_step=200))


def test_preflight_refuses_a_batch_an_episode_replay_can_never_hold():
    with pytest.raises(ConfigError, match="batch_size=64 .*buffer_size=32"):
        preflight(resolved(batch_size=64, buffer_size=32))
    preflight(resolved(batch_size=32, buffer_size=32))


def test_a_divergence_raised_without_a_step_names_it_once_the_loop_fills_it_in():
    err = DivergenceError("priority=nan for 2 of 8 transitions")
    assert str(err) == "training diverged: priority=nan for 2 of 8 transitions"
    err.t_env = 40
    assert str(err) == "training diverged: priority=nan for 2 of 8 transitions at t_env=40"


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_priorities_are_a_divergence_and_still_an_invalid_value(bad):
    from components.prioritized_sampler import NonFinitePriorityError, PrioritizedSampler

    sampler = PrioritizedSampler(capacity=4)
    ids = sampler.add(3)
    with pytest.raises(NonFinitePriorityError, match=f"priority={bad} for 2 of 3 transitions") as err:
        sampler.update_priorities(ids, [1.0, bad, bad])
    assert isinstance(err.value, DivergenceError) and isinstance(err.value, ValueError)
    assert list(sampler.priorities(ids)) == [1.0, 1.0, 1.0]  # nothing was written
    with pytest.raises(ValueError, match="positive") as err:
        sampler.update_priorities(ids, [1.0, 0.0, 1.0])
    assert not isinstance(err.value, DivergenceError)


def test_the_saved_config_is_read_from_the_newest_readable_checkpoint(tmp_path):
    run = make_run(tmp_path, steps=(100, 200))
    (run / "200" / ckpt.CHECKPOINT_FILE).write_bytes(b"damaged")
    assert ckpt.saved_config(run) == (run / "100" / ckpt.CHECKPOINT_FILE, CONFIG)
    assert ckpt.saved_config(run, 200) is None  # the restore names the damaged file


def test_resume_takes_the_checkpoints_seed_and_env_args_unless_given_explicitly():
    from config.resolve import dotted_items, inherited_from_checkpoint

    saved = {**CONFIG, "seed": 7, "env_args": {"map_name": "matgame4", "episode_limit": 5, "retired_key": 1}}
    merged = {"env": "matrix", "seed": None, "env_args": {"map_name": "matgame1"}}
    assert inherited_from_checkpoint(merged, {}, saved) == {
        "seed": 7, "env_args": {"map_name": "matgame4", "episode_limit": 5}}  # keys the env no longer has are left
    explicit = {"seed": 1, "env_args": {"map_name": "matgame2"}}
    assert inherited_from_checkpoint(merged, explicit, saved) == {"env_args": {"episode_limit": 5}}
    assert inherited_from_checkpoint({**merged, "env": "sc2"}, {}, saved) == {"seed": 7}  # refused later for its env
    assert dotted_items({"seed": 7, "env_args": {"map_name": "x"}}) == {"seed": 7, "env_args.map_name": "x"}


def test_a_weights_mismatch_names_nested_settings_and_leaves_out_where_the_run_goes():
    saved = {"hidden_dim": 64, "t_max": 300, "results_dir": "a", "env_args": {"map_name": "3m", "obs_last_action": True}}
    current = {"hidden_dim": 128, "t_max": 400, "results_dir": "b", "env_args": {"map_name": "3m", "obs_last_action": False}}
    message = ckpt.weights_mismatch("ckpt", saved, current)
    assert message.endswith("resume it):\n  env_args.obs_last_action: checkpoint True, this run False\n"
                            "  hidden_dim: checkpoint 64, this run 128")
    assert "no setting differs" in ckpt.weights_mismatch("ckpt", {"t_max": 1}, {"t_max": 2})

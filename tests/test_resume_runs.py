"""Whole runs: a resumed run never writes into its source run and takes the checkpoint's seed and
environment unless told otherwise, damaged or foreign checkpoints fail (or fall back) clearly, a
diverged run stops FAILED without saving its non-finite state, and impossible settings fail before
any environment is built."""
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from test_checkpoints import COMMON, metric
from test_smoke_runs import MAIN, TINY_MAZERO, run_main
from utils.checkpoint import CHECKPOINT_FILE, checkpoint_steps, load_checkpoint
from utils.divergence import float_tensors


def run_dirs(results: Path, alg: str) -> list[Path]:
    """Sacred run directories, oldest first."""
    return sorted((p for p in (results / "sacred" / alg).glob("*/*") if p.name.isdigit()), key=lambda p: int(p.name))


def info(run_dir: Path) -> dict:
    return json.loads((run_dir / "info.json").read_text())


def status(run_dir: Path) -> str:
    return json.loads((run_dir / "run.json").read_text())["status"]


def run_without_seed(results: Path, *updates: str) -> subprocess.CompletedProcess:
    """`run_main`'s qmix command without its `seed=` (and without a map unless `updates` name one),
    as the README's resume and evaluate commands are typed."""
    cmd = [sys.executable, str(MAIN), "--config=qmix", "--env-config=matrix", "with", f"results_dir={results}",
           "test_nepisode=2", "log_interval=50", "runner_log_interval=50", "learner_log_interval=1",
           "save_model_interval=100", *updates]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def learner_tensors(checkpoint: Path) -> dict[str, torch.Tensor]:
    return dict(float_tensors(load_checkpoint(checkpoint)["learner"]))


def tree_hashes(*roots: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for root in roots for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A qmix run on matgame4 to t_max=300 with checkpoints at 100, 200, 300: (results, sacred run, model dir)."""
    results = tmp_path_factory.mktemp("source")
    proc = run_main("qmix", "matrix", results, "t_max=300", *COMMON)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = run_dirs(results, "qmix")
    model_dir = Path(info(run_dir)["model_dir"])
    assert checkpoint_steps(model_dir) == [100, 200, 300]
    return results, run_dir, model_dir


def test_resuming_a_finished_run_leaves_its_files_untouched_and_writes_a_new_run(finished):
    results, source_run, model_dir = finished
    before = tree_hashes(model_dir, source_run)
    proc = run_main("qmix", "matrix", results, "t_max=300", *COMMON, f"checkpoint_path={model_dir}", "load_step=100")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert tree_hashes(model_dir, source_run) == before
    resumed_run = run_dirs(results, "qmix")[-1]
    assert resumed_run != source_run and status(resumed_run) == "COMPLETED"
    resumed = info(resumed_run)
    assert resumed["resumed_from"] == str(model_dir / "100" / CHECKPOINT_FILE)
    new_dir = Path(resumed["model_dir"])
    assert new_dir != model_dir and checkpoint_steps(new_dir) == [200, 300]  # the source's saving schedule


def test_an_unsaved_load_step_fails_before_the_run_listing_the_saved_steps(finished, tmp_path):
    _, _, model_dir = finished
    proc = run_main("qmix", "matrix", tmp_path, "t_max=300", *COMMON, f"checkpoint_path={model_dir}", "load_step=999")
    assert proc.returncode == 2
    assert "load_step=999" in proc.stderr and "[100, 200, 300]" in proc.stderr
    assert not (tmp_path / "sacred").exists()


def test_a_damaged_newest_checkpoint_falls_back_to_the_newest_readable_one_and_says_so(finished, tmp_path):
    _, _, model_dir = finished
    copy = shutil.copytree(model_dir, tmp_path / "copy")
    (copy / "300" / CHECKPOINT_FILE).write_bytes((copy / "300" / CHECKPOINT_FILE).read_bytes()[:1000])
    proc = run_main("qmix", "matrix", tmp_path / "results", "t_max=300", *COMMON, f"checkpoint_path={copy}", "seed=5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    output = proc.stdout + proc.stderr
    assert "this run's seed 5 is not the checkpoint's 3" in output
    assert f"cannot read checkpoint '{copy / '300' / CHECKPOINT_FILE}'" in output
    assert "newest readable" in output
    (resumed_run,) = run_dirs(tmp_path / "results", "qmix")
    assert info(resumed_run)["resumed_from"] == str(copy / "200" / CHECKPOINT_FILE)


def test_a_damaged_explicit_checkpoint_is_an_error_naming_the_file(finished, tmp_path):
    _, _, model_dir = finished
    copy = shutil.copytree(model_dir, tmp_path / "copy")
    (copy / "200" / CHECKPOINT_FILE).write_bytes(b"\x00" * 64)
    proc = run_main("qmix", "matrix", tmp_path / "results", "t_max=300", *COMMON, f"checkpoint_path={copy}",
                    "load_step=200")
    assert proc.returncode != 0
    assert f"CheckpointError: cannot read checkpoint '{copy / '200' / CHECKPOINT_FILE}'" in proc.stderr


@pytest.mark.parametrize(
    "alg, updates, expected",
    [("mazero", ["env_args.map_name=matgame4", *TINY_MAZERO],
      ["name: checkpoint 'qmix', this run 'mazero'", "learner: checkpoint 'q_learner', this run 'mazero_learner'"]),
     ("qmix", ["env_args.map_name=matgame1", "batch_size=4"],
      ["env_args.map_name: checkpoint 'matgame4', this run 'matgame1'"])],
)
def test_a_checkpoint_of_another_algorithm_or_map_is_refused(finished, tmp_path, alg, updates, expected):
    _, _, model_dir = finished
    proc = run_main(alg, "matrix", tmp_path, "t_max=300", f"checkpoint_path={model_dir}", *updates)
    assert proc.returncode == 2, proc.stderr[-2000:]  # a configuration error, before any work
    assert "Configuration error" in proc.stderr and "does not match this run's config" in proc.stderr
    for line in expected:
        assert line in proc.stderr, proc.stderr[-2000:]
    assert "KeyError" not in proc.stderr and "size mismatch" not in proc.stderr
    assert not (tmp_path / "sacred").exists()  # no run was started


def test_a_diverged_run_stops_failed_without_saving_its_state(tmp_path):
    proc = run_main("qmix", "matrix", tmp_path, "t_max=500", "batch_size=4", "optimizer=adam", "lr=1e30",
                    "save_model_interval=10")
    assert proc.returncode != 0
    assert "DivergenceError: training diverged: loss=" in proc.stderr, proc.stderr[-2000:]
    diverged_at = int(proc.stderr.split("DivergenceError: training diverged:")[1].split("at t_env=")[1].split()[0])
    (run_dir,) = run_dirs(tmp_path, "qmix")
    assert status(run_dir) == "FAILED"
    model_dir = Path(info(run_dir)["model_dir"])
    steps = checkpoint_steps(model_dir)
    assert steps and max(steps) < diverged_at     # the crash checkpoint was not written
    newest = load_checkpoint(model_dir / str(max(steps)) / CHECKPOINT_FILE)
    weights = [t for t in newest["learner"]["mac"].values() if isinstance(t, torch.Tensor)]
    assert weights and all(torch.isfinite(t).all() for t in weights)


def test_a_missing_checkpoint_path_or_an_oversized_batch_fails_at_once(tmp_path):
    started = time.time()
    missing = run_main("qmix", "matrix", tmp_path, f"checkpoint_path={tmp_path / 'nowhere'}")
    (tmp_path / "empty").mkdir()
    empty = run_main("qmix", "matrix", tmp_path, f"checkpoint_path={tmp_path / 'empty'}")
    batch = run_main("qmix", "matrix", tmp_path, "batch_size=64", "buffer_size=32")
    assert [p.returncode for p in (missing, empty, batch)] == [2, 2, 2]
    assert "Configuration error" in missing.stderr and "does not exist" in missing.stderr
    assert "no '<t_env>/checkpoint.pt'" in empty.stderr
    assert "batch_size=64" in batch.stderr and "buffer_size=32" in batch.stderr
    assert not (tmp_path / "sacred").exists() and time.time() - started < 120


NO_MAP = [u for u in COMMON if not u.startswith("env_args.map_name")]  # the source ran on matgame4


def test_a_resume_without_seed_or_map_takes_them_from_the_checkpoint_and_reproduces_the_run(finished, tmp_path):
    results, source_run, model_dir = finished
    proc = run_without_seed(tmp_path, "t_max=300", *NO_MAP, f"checkpoint_path={model_dir}", "load_step=100")
    assert proc.returncode == 0, proc.stderr[-2000:]
    output = proc.stdout + proc.stderr
    assert f"from checkpoint {model_dir / '100' / CHECKPOINT_FILE}: seed=3, env_args.map_name='matgame4'" in output
    (resumed_run,) = run_dirs(tmp_path, "qmix")
    config = json.loads((resumed_run / "config.json").read_text())
    assert config["seed"] == 3 and config["env_args"]["map_name"] == "matgame4"
    assert info(resumed_run)["from_checkpoint"]["seed"] == 3
    reference = metric(source_run, "test_return_mean")
    assert metric(resumed_run, "test_return_mean") == {t: v for t, v in reference.items() if t > 100}
    final = learner_tensors(Path(info(resumed_run)["model_dir"]) / "300" / CHECKPOINT_FILE)
    expected = learner_tensors(model_dir / "300" / CHECKPOINT_FILE)
    assert final.keys() == expected.keys() and all(torch.equal(final[k], expected[k]) for k in expected)


def test_an_explicit_seed_or_map_still_overrides_the_checkpoint(finished, tmp_path):
    _, _, model_dir = finished
    proc = run_without_seed(tmp_path, *NO_MAP, f"checkpoint_path={model_dir}", "evaluate=True", "seed=5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = run_dirs(tmp_path, "qmix")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seed"] == 5 and config["env_args"]["map_name"] == "matgame4"
    assert "seed" not in info(run_dir)["from_checkpoint"]


def test_evaluating_a_checkpoint_twice_without_seed_gives_identical_returns(finished, tmp_path):
    _, _, model_dir = finished
    returns = []
    for attempt in ("a", "b"):
        proc = run_without_seed(tmp_path / attempt, *COMMON, f"checkpoint_path={model_dir}", "evaluate=True",
                                "test_nepisode=6")
        assert proc.returncode == 0, proc.stderr[-2000:]
        (run_dir,) = run_dirs(tmp_path / attempt, "qmix")
        assert json.loads((run_dir / "config.json").read_text())["seed"] == 3
        returns.append(metric(run_dir, "test_return_mean"))
    assert returns[0] == returns[1] and list(returns[0]) == [300]


def test_a_diverging_mazero_run_stops_failed_naming_the_metric_and_keeps_finite_checkpoints(tmp_path):
    proc = run_main("mazero_matrix", "matrix", tmp_path, "lr=1e6", "min_replay_transitions=50", "t_max=400",
                    "reanalyse_workers=0", "batch_size_run=4", "save_model_interval=20", "test_interval=1000")
    assert proc.returncode != 0
    assert "DivergenceError: training diverged: loss=nan at t_env=" in proc.stderr, proc.stderr[-2000:]
    assert "priorities must be" not in proc.stderr
    diverged_at = int(proc.stderr.split("at t_env=")[-1].split()[0])
    (run_dir,) = run_dirs(tmp_path, "mazero_matrix")
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "FAILED" and f"loss=nan at t_env={diverged_at}" in record["fail_trace"][-1]
    assert info(run_dir)["diverged"] == f"training diverged: loss=nan at t_env={diverged_at}"
    model_dir = Path(info(run_dir)["model_dir"])
    steps = checkpoint_steps(model_dir)
    assert steps and max(steps) < diverged_at
    for step in steps:
        assert all(torch.isfinite(t).all() for t in learner_tensors(model_dir / str(step) / CHECKPOINT_FILE).values())


def test_non_finite_priorities_stop_the_run_as_a_divergence_without_a_crash_checkpoint(tmp_path, monkeypatch):
    """Priorities come from the value head; should they go NaN while the loss is still finite, the
    run stops as diverged (not with the replay's input check) and saves no crash checkpoint."""
    import main as entry
    from learners import mazero_learner

    real, calls = mazero_learner.value_priorities, []

    def nan_in_the_second_rollout(*args, **kwargs):  # a rollout is 40 env steps, one update each
        calls.append(1)
        priorities = real(*args, **kwargs)
        return priorities if len(calls) <= 50 else torch.full_like(priorities, float("nan"))

    monkeypatch.setattr(mazero_learner, "value_priorities", nan_in_the_second_rollout)
    with pytest.raises(SystemExit):
        entry.main(["main.py", "--config=mazero_matrix", "--env-config=matrix", "with", f"results_dir={tmp_path}",
                    *TINY_MAZERO, "batch_size_run=4", "t_max=400", "save_model_interval=10", "test_interval=1000",
                    "capture_mode=sys", "seed=3"])
    (run_dir,) = run_dirs(tmp_path, "mazero_matrix")
    record = json.loads((run_dir / "run.json").read_text())
    reason = record["fail_trace"][-1]
    assert record["status"] == "FAILED" and "NonFinitePriorityError: training diverged: priority=nan" in reason
    diverged_at = int(reason.split("at t_env=")[1].split()[0])
    assert info(run_dir)["diverged"].endswith(f"at t_env={diverged_at}")
    steps = checkpoint_steps(Path(info(run_dir)["model_dir"]))
    assert steps and max(steps) < diverged_at  # the step that diverged saved nothing


def test_collected_records_join_a_resumed_runs_starts_but_not_two_runs_of_one_seed(tmp_path):
    """Run A (seed 3) stopped at 100 and resumed to 300 (record B), and run C, seed 3 again from
    scratch: the committed records hold two lineages of seed 3, so the tables count two values and
    the plots draw two curves, and A+B read as one series across the resume."""
    from tools import plots, records
    from tools.collect_records import collect

    results = tmp_path / "results"
    for updates in (["t_max=100"], None, ["t_max=300"]):
        if updates is None:  # B: resume A
            (run_a,) = run_dirs(results, "qmix")
            updates = ["t_max=300", f"checkpoint_path={info(run_a)['model_dir']}"]
        proc = run_main("qmix", "matrix", results, *COMMON, *updates)
        assert proc.returncode == 0, proc.stderr[-2000:]
    collect(results, tmp_path / "records")
    copied = sorted((tmp_path / "records" / "sacred" / "qmix").glob("*/*/info.json"))
    assert len(copied) == 3 and all(str(results) not in p.read_text() for p in copied)  # sanitised, still linked

    table = records.load_table([tmp_path / "records"], statuses=records.statuses(True))
    assert table.groupby("lineage")["run_dir"].nunique().sort_values().tolist() == [1, 2]
    final = records.values_at_budget(table, "test_return_mean", None)
    assert final["seed"].tolist() == [3, 3] and final["step"].tolist() == [300, 300]
    assert final["value"].iloc[0] == final["value"].iloc[1]  # same seed, same run: the resume reproduces it
    at_100 = records.values_at_budget(table, "test_return_mean", 100)
    assert len(at_100) == 2
    grid, values = plots.seed_curves(table[table["metric"] == "test_return_mean"], "step")
    assert values.shape[0] == 2 and grid[-1] == 300

    # another experiment's records of the same seeds, read together with these, stay apart
    shutil.copytree(tmp_path / "records", tmp_path / "other_experiment")
    both = [tmp_path / "records", tmp_path / "other_experiment"]
    linked = records.load_table(both, statuses=records.statuses(True))
    assert linked.groupby("lineage")["run_dir"].nunique().sort_values().tolist() == [1, 1, 2, 2]

    # records made before info.json was kept cannot be joined by their links: one lineage per seed
    # within a records directory, and the other directory's seed 3 still stays apart
    for path in (*copied, *(tmp_path / "other_experiment").rglob("info.json")):
        path.unlink()
    unlinked = records.load_table(both, statuses=records.statuses(True))
    assert unlinked.groupby("lineage")["run_dir"].nunique().tolist() == [3, 3]


def test_an_off_schedule_checkpoint_does_not_shift_the_saving_schedule(tmp_path):
    """A run that stopped between two periodic saves (here: its end at 150 of a 100-step schedule,
    as an interrupt would) and is resumed saves at the next multiple (200), not 100 steps after
    the stop (250): a study evaluates the checkpoints nearest to fixed steps."""
    first = tmp_path / "first"
    proc = run_main("qmix", "matrix", first, "t_max=150", *COMMON)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = run_dirs(first, "qmix")
    model_dir = Path(info(run_dir)["model_dir"])
    assert checkpoint_steps(model_dir) == [100, 150]
    proc = run_main("qmix", "matrix", tmp_path / "second", "t_max=300", *COMMON, f"checkpoint_path={model_dir}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (resumed,) = run_dirs(tmp_path / "second", "qmix")
    assert checkpoint_steps(Path(info(resumed)["model_dir"])) == [200, 300]


@pytest.mark.parametrize("last_save, due_from", [(0, 100), (100, 200), (150, 200), (199, 200), (200, 300)])
def test_a_periodic_save_is_due_at_the_first_step_past_each_multiple(last_save, due_from):
    from run import save_due

    due = [t for t in range(last_save + 1, 400) if save_due(t, last_save, 100)]
    assert due[0] == due_from


def test_weights_of_another_architecture_are_refused_naming_the_settings_that_differ(finished, tmp_path):
    """A default changed since the checkpoint was saved (here the agent's width): the error names the
    setting and both values, not torch's tensor sizes."""
    _, _, model_dir = finished
    saved_width = load_checkpoint(model_dir / "300" / CHECKPOINT_FILE)["config"]["hidden_dim"]
    proc = run_main("qmix", "matrix", tmp_path, "t_max=400", f"checkpoint_path={model_dir}", *COMMON,
                    f"hidden_dim={2 * saved_width}")
    assert proc.returncode != 0
    assert "holds weights of another architecture than this run's networks" in proc.stderr, proc.stderr[-2000:]
    assert f"hidden_dim: checkpoint {saved_width}, this run {2 * saved_width}" in proc.stderr, proc.stderr[-2000:]

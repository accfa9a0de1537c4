"""Whole runs: a resumed run never writes into its source run, damaged or foreign checkpoints fail
(or fall back) clearly, a diverged run stops FAILED without saving its non-finite state, and
impossible settings fail before any environment is built."""
import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest
import torch

from test_checkpoints import COMMON
from test_smoke_runs import TINY_MAZERO, run_main
from utils.checkpoint import CHECKPOINT_FILE, checkpoint_steps, load_checkpoint


def run_dirs(results: Path, alg: str) -> list[Path]:
    """Sacred run directories, oldest first."""
    return sorted((p for p in (results / "sacred" / alg).glob("*/*") if p.name.isdigit()), key=lambda p: int(p.name))


def info(run_dir: Path) -> dict:
    return json.loads((run_dir / "info.json").read_text())


def status(run_dir: Path) -> str:
    return json.loads((run_dir / "run.json").read_text())["status"]


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
    assert proc.returncode != 0
    assert "CheckpointError" in proc.stderr and "does not match this run's config" in proc.stderr
    for line in expected:
        assert line in proc.stderr, proc.stderr[-2000:]
    assert "KeyError" not in proc.stderr and "size mismatch" not in proc.stderr


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

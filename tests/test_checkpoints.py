"""Checkpoints: resume continues exactly, evaluate=True evaluates a checkpoint, SIGINT saves and marks the run."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_smoke_runs import MAIN, only_run_dir, run_main

COMMON = ["env_args.map_name=matgame4", "batch_size=4", "save_replay_buffer=True", "test_interval=50"]


def metric(run_dir: Path, key: str) -> dict[int, float]:
    series = json.loads((run_dir / "metrics.json").read_text())[key]
    return dict(zip(series["steps"], series["values"]))


def test_resume_continues_exactly_where_the_checkpoint_was_taken(tmp_path):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    proc = run_main("qmix", "matrix", full, "t_max=300", *COMMON)
    assert proc.returncode == 0, proc.stderr[-2000:]
    full_run = only_run_dir(full, "qmix")
    model_dir = Path(json.loads((full_run / "info.json").read_text())["model_dir"])
    assert (model_dir / "100" / "checkpoint.pt").is_file()

    proc = run_main("qmix", "matrix", resumed, "t_max=300", *COMMON, f"checkpoint_path={model_dir}", "load_step=100")
    assert proc.returncode == 0, proc.stderr[-2000:]
    resumed_run = only_run_dir(resumed, "qmix")
    steps = metric(resumed_run, "test_return_mean")
    assert min(steps) > 100 and max(steps) == 300          # t_env continued from 100, not from 0
    reference = metric(full_run, "test_return_mean")
    assert steps == {t: v for t, v in reference.items() if t > 100}
    assert metric(resumed_run, "loss") == {t: v for t, v in metric(full_run, "loss").items() if t > 100}


def test_evaluate_runs_test_episodes_of_a_checkpoint(tmp_path):
    proc = run_main("qmix", "matrix", tmp_path / "train", "t_max=100", *COMMON)
    assert proc.returncode == 0, proc.stderr[-2000:]
    model_dir = json.loads((only_run_dir(tmp_path / "train", "qmix") / "info.json").read_text())["model_dir"]
    proc = run_main("qmix", "matrix", tmp_path / "eval", *COMMON, f"checkpoint_path={model_dir}", "evaluate=True",
                    "test_nepisode=6")
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((only_run_dir(tmp_path / "eval", "qmix") / "metrics.json").read_text())
    assert metrics["test_return_mean"]["steps"] == [100]     # evaluated at the checkpoint's t_env
    assert "return_mean" not in metrics                      # no training episodes


def interrupt_qmix_run(tmp_path: Path, *updates: str) -> tuple[str, Path]:
    """Starts an endless QMIX run, sends SIGINT once it has logged, returns (its output, its run dir)."""
    cmd = [sys.executable, str(MAIN), "--config=qmix", "--env-config=matrix", "with", f"results_dir={tmp_path}",
           "t_max=100000000", "runner_log_interval=50", "seed=1", *updates]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob("sacred/qmix/*/1/metrics.json")):
        time.sleep(0.5)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    return output, only_run_dir(tmp_path, "qmix")


def test_sigint_saves_a_checkpoint_and_marks_the_run_interrupted(tmp_path):
    output, run_dir = interrupt_qmix_run(tmp_path, "save_model_interval=100000000")
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "INTERRUPTED", output[-2000:]
    info = json.loads((run_dir / "info.json").read_text())
    assert info["interrupted"] == "SIGINT"
    saved = list(Path(info["model_dir"]).glob("*/checkpoint.pt"))
    assert len(saved) == 1 and int(saved[0].parent.name) > 0


def test_sigint_without_save_model_marks_the_run_interrupted_and_says_nothing_was_saved(tmp_path):
    output, run_dir = interrupt_qmix_run(tmp_path, "save_model=False")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "INTERRUPTED", output[-2000:]
    assert "SIGINT received: no checkpoint (save_model=False)" in output
    assert "checkpoint saved" not in output
    assert not list(tmp_path.glob("models/**/checkpoint.pt"))


def test_sigterm_with_a_reanalysis_worker_still_saves_and_marks_the_run_interrupted(tmp_path):
    """Ray installs its own SIGTERM handler when it starts; the loop's must stay in charge."""
    from test_smoke_runs import TINY_MAZERO, raylets

    before = raylets()
    tiny = [u for u in TINY_MAZERO if not u.startswith("reanalyse_workers")]
    cmd = [sys.executable, str(MAIN), "--config=mazero", "--env-config=matrix", "with", f"results_dir={tmp_path}",
           "t_max=100000000", "save_model_interval=100000000", "learner_log_interval=1", "runner_log_interval=50",
           "test_interval=100000000", "seed=1", "reanalyse_workers=1", *tiny]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = tmp_path / "sacred" / "mazero" / "matrix_matgame1" / "1" / "metrics.json"
    deadline = time.time() + 180
    while time.time() < deadline and "reanalyse_worker_utilisation" not in (metrics.read_text() if metrics.exists() else ""):
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    run_dir = only_run_dir(tmp_path, "mazero")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "INTERRUPTED", output[-3000:]
    info = json.loads((run_dir / "info.json").read_text())
    assert info["interrupted"] == "SIGTERM"
    assert len(list(Path(info["model_dir"]).glob("*/checkpoint.pt"))) == 1
    assert raylets() <= before

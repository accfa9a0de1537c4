"""tools.collect_records: a real run's sacred records copied without machine paths, readable by tools.records."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tools.collect_records import collect, sanitise
from tools.records import load_runs

MAIN = Path(__file__).resolve().parents[1] / "src" / "main.py"


def test_sanitise_replaces_machine_paths_only():
    record = {"a": "/work/repo/src/run.py", "b": ["/tmp/x/y.txt:3", "sc2-smax_3m"], "c": 3, "d": "ratio 1/2"}
    out = sanitise(record, [("/work/repo", "<repo>")])
    assert out == {"a": "<repo>/src/run.py", "b": ["<local>:3", "sc2-smax_3m"], "c": 3, "d": "ratio 1/2"}


def train_vdn(results: Path) -> None:
    cmd = [sys.executable, str(MAIN), "--config=vdn", "--env-config=matrix", "with", f"results_dir={results}",
           "seed=5", "t_max=100", "test_interval=50", "test_nepisode=2", "batch_size=4", "save_model=False"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_collected_records_read_back_and_name_no_local_path(tmp_path):
    results = tmp_path / "results"
    train_vdn(results)
    (results / "eval").mkdir()
    pd.DataFrame([{"step": 100, "episodes": 2, "test_battle_won_mean": 0.0}]).to_csv(
        results / "eval" / "vdn_matgame1_seed5.csv", index=False)
    dest = tmp_path / "docs" / "runs"
    written = collect(results, dest)
    assert [p.relative_to(dest).as_posix() for p in written] == ["sacred/vdn/matrix_matgame1/seed5"]
    text = "".join(p.read_text() for p in written[0].iterdir())
    assert str(tmp_path) not in text and "/tmp/" not in text
    (original,) = load_runs(results, statuses=None)
    (copied,) = load_runs(dest, statuses=None)
    assert (copied.alg, copied.seed, copied.status) == ("vdn", 5, "COMPLETED")
    assert copied.metrics == json.loads(json.dumps(original.metrics))
    assert (dest / "eval" / "vdn_matgame1_seed5.csv").is_file()


def test_second_run_of_a_seed_replaces_its_single_run_folder(tmp_path):
    results, dest = tmp_path / "results", tmp_path / "docs" / "runs"
    train_vdn(results)
    collect(results, dest)
    unrelated = dest / "sacred" / "vdn" / "matrix_matgame1" / "seed6"
    unrelated.mkdir()
    (unrelated / "run.json").write_text("{}")
    train_vdn(results)
    written = collect(results, dest)
    folders = sorted(p.name for p in (dest / "sacred" / "vdn" / "matrix_matgame1").iterdir())
    assert sorted(p.name for p in written) == ["seed5-run1", "seed5-run2"]
    assert folders == ["seed5-run1", "seed5-run2", "seed6"]

"""The optional record sinks: sacred's MongoObserver (against mongomock), its SQL observer on a real
SQLite file, and TensorBoard."""
import json
import sqlite3
from pathlib import Path

import mongomock
import mongomock.gridfs
import pymongo
import pytest

import main as entry


def test_mongo_observer_records_the_run(tmp_path):
    mongomock.gridfs.enable_gridfs_integration()
    with mongomock.patch(servers=(("localhost", 27017),)):
        entry.main(["main.py", "--config=vdn", "--env-config=matrix", "with", f"results_dir={tmp_path}",
                    "t_max=100", "test_nepisode=2", "runner_log_interval=50", "mongo_url=mongodb://localhost:27017",
                    "mongo_db=testdb", "capture_mode=sys", "seed=5"])
        db = pymongo.MongoClient("mongodb://localhost:27017")["testdb"]
        run = db.runs.find_one()
        assert run["status"] == "COMPLETED"
        assert run["config"]["name"] == "vdn" and run["config"]["seed"] == 5
        names = {m["name"] for m in db.metrics.find()}
        assert {"return_mean", "test_return_mean"} <= names


def test_tensorboard_writes_event_files(tmp_path):
    entry.main(["main.py", "--config=vdn", "--env-config=matrix", "with", f"results_dir={tmp_path}", "t_max=100",
                "test_nepisode=2", "runner_log_interval=50", "use_tensorboard=True", "capture_mode=sys"])
    events = list(Path(tmp_path, "tb_logs").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_sql_observer_records_runs_configs_and_metrics_in_sqlite(tmp_path):
    db = tmp_path / "records" / "sacred.db"  # its directory does not exist yet
    for alg in ("vdn", "qmix"):  # two algorithms whose run directories are both number 1
        entry.main(["main.py", f"--config={alg}", "--env-config=matrix", "with", f"results_dir={tmp_path}",
                    "t_max=100", "test_nepisode=2", "runner_log_interval=50", f"sql_url=sqlite:///{db}",
                    "capture_mode=sys", "seed=5"])
    with sqlite3.connect(db) as connection:
        runs = {run_id: (status, json.loads(config), json.loads(info)) for run_id, status, config, info in
                connection.execute("SELECT run_id, status, config, info FROM run")}
        assert set(runs) == {"vdn/matrix_matgame1/1", "qmix/matrix_matgame1/1"}
        status, config, info = runs["vdn/matrix_matgame1/1"]
        assert status == "COMPLETED" and config["name"] == "vdn" and config["seed"] == 5
        assert info["result"]["t_env"] == 100 and info["model_dir"].startswith(str(tmp_path))
        rows = connection.execute("SELECT name, step, value FROM metric WHERE run_id = ? ORDER BY id",
                                  ("vdn/matrix_matgame1/1",)).fetchall()
    recorded = json.loads((tmp_path / "sacred" / "vdn" / "matrix_matgame1" / "1" / "metrics.json").read_text())
    for name in ("return_mean", "test_return_mean"):  # the same series the FileStorageObserver wrote
        series = [(step, value) for key, step, value in rows if key == name]
        assert series == list(zip(recorded[name]["steps"], recorded[name]["values"]))


def test_an_unusable_sql_url_is_a_configuration_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        entry.main(["main.py", "--config=vdn", "--env-config=matrix", "with", f"results_dir={tmp_path}",
                    "sql_url=nosuchdb://localhost/runs"])
    assert exit_.value.code == 2
    assert "sql_url 'nosuchdb://localhost/runs'" in capsys.readouterr().err
    assert not (tmp_path / "sacred").exists()

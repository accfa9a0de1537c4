"""The optional record sinks: sacred's MongoObserver (against mongomock) and TensorBoard."""
from pathlib import Path

import mongomock
import mongomock.gridfs
import pymongo

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

"""Sweep bookkeeping through a local Ray: completed runs are skipped, failed ones reported and
retried, and the run key travels in the sacred config as `label`."""
import json
from pathlib import Path

import pytest

from tools import sweep as sw

TINY = ["t_max=100", "test_nepisode=2", "test_interval=50", "save_model=False"]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def config(results: Path, maps: list[str], seeds: list[int], **extra) -> sw.SweepConfig:
    return sw.SweepConfig(algs=["qmix"], env_config="matrix", maps=maps, seeds=seeds, overrides=TINY,
                          results_dir=str(results), name="t", **extra)


def sacred_dirs(results: Path) -> list[Path]:
    return sorted(p.parent for p in results.glob("sacred/*/*/*/run.json"))


def test_run_key_is_stable_and_sensitive_to_overrides():
    a = sw.RunSpec("qmix", "matrix", "matgame2", 1, ("t_max=100", "lr=0.1"), "env_args.map_name")
    b = sw.RunSpec("qmix", "matrix", "matgame2", 1, ("lr=0.1", "t_max=100"), "env_args.map_name")
    c = sw.RunSpec("qmix", "matrix", "matgame2", 1, ("t_max=200",), "env_args.map_name")
    assert a.key == b.key != c.key
    assert a.key.startswith("qmix-matrix-matgame2-s1-")
    assert "label=" + a.key in a.command("python", Path("/r"), 0)


def test_cli_and_yaml_options(tmp_path):
    spec = tmp_path / "sweep.yaml"
    spec.write_text("algs: [qmix, vdn]\nenv_config: matrix\nmaps: [matgame1]\nseeds: 3\nwith: {t_max: 100}\n")
    cfg = sw.build_config(sw.parse_args(["--config", str(spec), "--maps", "matgame2", "--results-dir", "x"]))
    assert cfg.seeds == [1, 2, 3] and cfg.maps == ["matgame2"] and cfg.overrides == ["t_max=100"]
    assert len(cfg.runs()) == 6
    assert sw.seeds_from([4, 7]) == [4, 7]
    with pytest.raises(SystemExit):
        sw.check_overrides(["seed=3"], "env_args.map_name")


def test_skip_completed_retry_failed(tmp_path):
    results = tmp_path / "results"
    # 1. one bad cell (an invalid map): the good cells complete, the bad ones are reported
    entries = sw.sweep(config(results, ["matgame2", "matgame9"], [1, 2]))
    status = {(e["map"], e["seed"]): e for e in entries.values()}
    assert all(status[("matgame2", s)]["status"] == "COMPLETED" for s in (1, 2))
    bad = status[("matgame9", 1)]
    assert bad["status"] == "FAILED" and "matgame9" in bad["tail"] and bad["attempts"] == 1
    assert sw.report(entries, sw.manifest_path(config(results, [], []))) == 1
    done = sacred_dirs(results)
    assert len(done) == 2
    for run_dir in done:
        cfg = json.loads((run_dir / "config.json").read_text())
        assert cfg["label"] == sw.RunSpec("qmix", "matrix", cfg["env_args"]["map_name"], cfg["seed"],
                                          tuple(TINY), "env_args.map_name").key
    manifest = json.loads((results / "sweeps" / "t.json").read_text())
    assert manifest["counts"] == {"COMPLETED": 2, "FAILED": 2}

    # 2. re-run with a retry: completed runs are skipped, the failed ones get two more attempts
    entries = sw.sweep(config(results, ["matgame2", "matgame9"], [1, 2], retries=1))
    assert sorted(e["action"] for e in entries.values()) == ["run", "run", "skipped", "skipped"]
    assert [e["attempts"] for e in entries.values() if e["map"] == "matgame9"] == [3, 3]
    assert sacred_dirs(results) == done

    # 3. a transient failure (killed by the per-run timeout) is retried by the next invocation
    entries = sw.sweep(config(results, ["matgame3"], [1], timeout_s=0.5))
    assert [e["status"] for e in entries.values()] in (["TIMEOUT"], ["INTERRUPTED"])
    entries = sw.sweep(config(results, ["matgame3"], [1]))
    assert [(e["status"], e["attempts"]) for e in entries.values()] == [("COMPLETED", 2)]

    # 4. the corrected sweep runs only what is missing
    entries = sw.sweep(config(results, ["matgame2", "matgame3"], [1, 2]))
    ran = [e["key"] for e in entries.values() if e["action"] == "run"]
    assert len(ran) == 1 and "matgame3-s2" in ran[0]
    assert all(e["status"] == "COMPLETED" for e in entries.values())
    assert len(sacred_dirs(results)) == 4
    assert sw.report(entries, sw.manifest_path(config(results, [], []))) == 0

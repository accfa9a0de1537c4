"""Every registered algorithm config runs end to end through `src/main.py` on the matrix games and
on SMAC 3m (SMAX backend), and leaves complete sacred records."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from config.loader import available

MAIN = Path(__file__).resolve().parents[1] / "src" / "main.py"
TINY_MAZERO = ["num_simulations=4", "batch_size=8", "min_replay_transitions=16", "buffer_size=64",
               "unroll_steps=2", "td_steps=2", "communication_layers=1", "hidden_dim=32", "reanalyse_workers=0"]
# MAMBA's official sizes take seconds per update on a CPU (1280 latent features, 60 updates per episode)
TINY_MAMBA = ["batch_size=4", "updates_per_rollout=2", "agent_update_interval=2", "hidden_dim=16", "embed_dim=16",
              "deterministic_dim=16", "n_categoricals=4", "n_classes=4", "communication_layers=1", "seq_length=5",
              "imagination_horizon=3", "epochs=1", "minibatch_size=64"]
ENVS = {
    "matrix": ["t_max=200", "env_args.map_name=matgame2"],
    "sc2": ["t_max=150", "env_args.backend=smax", "env_args.map_name=3m"],
}


def run_main(alg: str, env: str, results: Path, *updates: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(MAIN), f"--config={alg}", f"--env-config={env}", "with", f"results_dir={results}",
           "seed=3", "test_nepisode=2", "test_interval=100", "log_interval=50", "runner_log_interval=50",
           "learner_log_interval=1", "save_model_interval=100", *updates]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def loss_key(alg: str) -> str:
    """The learner's main loss metric: PPO variants log the policy-gradient loss."""
    return "pg_loss" if alg.startswith(("mappo", "ippo")) else "loss"


def tiny(alg: str) -> list[str]:
    if alg.startswith("mamba"):
        return TINY_MAMBA
    if alg.startswith(("mappo", "ippo")):
        return ["batch_size_run=4"]  # PPO trains on each rollout of batch_size_run episodes
    return TINY_MAZERO if alg.startswith("mazero") else ["batch_size=4"]


def only_run_dir(results: Path, alg: str) -> Path:
    runs = [p for p in (results / "sacred" / alg).glob("*/*") if p.name.isdigit()]
    assert len(runs) == 1, runs
    return runs[0]


# MAZero's ablation and settings configs change keys of one code path that `mazero` runs on SMAX
# already; each runs end to end on the matrix game (the flat joint-action model, whose SMAX action
# space is far larger, runs on both).
MATRIX_ONLY = {"mazero_bc", "mazero_no_oslambda", "mazero_sampled_muzero", "mazero_no_sharing", "mazero_no_comm",
               "mazero_matrix"}
CASES = [(alg, env) for alg in available("algs") for env in sorted(ENVS) if not (env == "sc2" and alg in MATRIX_ONLY)]


@pytest.mark.parametrize("alg, env", CASES)
def test_algorithm_runs_and_records(alg, env, tmp_path):
    proc = run_main(alg, env, tmp_path, *ENVS[env], *tiny(alg))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = only_run_dir(tmp_path, alg)
    expected_dir = "sc2-smax_3m" if env == "sc2" else "matrix_matgame2"
    assert run_dir.parent.name == expected_dir
    config = json.loads((run_dir / "config.json").read_text())
    assert config["name"] == alg and config["seed"] == 3
    if env == "sc2":
        assert config["env_args"]["backend"] == "smax"
    status = json.loads((run_dir / "run.json").read_text())["status"]
    assert status == "COMPLETED"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    required = {"return_mean", "ep_length_mean", "test_return_mean", "env_steps_per_sec", "wall_time",
                "episode", loss_key(alg)}
    if env == "sc2":
        required |= {"test_battle_won_mean", "battle_won_mean"}
    if alg.startswith("mazero"):
        required |= {"test_prior_return_mean", "policy_loss", "value_loss", "reward_loss", "consistency_loss",
                     "test_model_value_error", "test_model_reward_error", "search_value_gain",
                     "test_greedy_agreement_mean", "test_search_picks_greedy_mean", "greedy_agreement_mean"}
    assert required <= set(metrics), sorted(required - set(metrics))
    if alg.startswith("mazero"):  # the prior variant plays its greedy action by definition: nothing to log
        assert "test_prior_greedy_agreement_mean" not in metrics
    info = json.loads((run_dir / "info.json").read_text())
    assert len(info["test_return_mean"]) == len(info["test_return_mean_T"]) >= 1
    assert (run_dir / "cout.txt").read_text().strip()
    models = Path(info["model_dir"])
    assert any(p.name == "checkpoint.pt" for p in models.rglob("*"))


def raylets() -> set[int]:
    import psutil

    return {p.pid for p in psutil.process_iter(["name", "cmdline"])
            if "raylet" in (p.info["name"] or "") or any("raylet" in c for c in (p.info["cmdline"] or []))}


def test_mazero_with_a_reanalysis_worker_runs_and_shuts_its_ray_down(tmp_path):
    """The loop shows the learner its batches in groups ahead of training; a Ray actor searches them meanwhile."""
    before = raylets()
    tiny_with_worker = [u for u in TINY_MAZERO if not u.startswith("reanalyse_workers")] + ["reanalyse_workers=1"]
    proc = run_main("mazero", "matrix", tmp_path, *ENVS["matrix"], *tiny_with_worker)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = json.loads((only_run_dir(tmp_path, "mazero") / "metrics.json").read_text())
    utilisation = metrics["reanalyse_worker_utilisation"]["values"]
    assert utilisation and 0.0 < utilisation[-1] <= 1.0
    assert max(metrics["reanalyse_hit_rate"]["values"]) > 0.5  # 64 episodes of 10 steps, 100 updates
    assert raylets() <= before

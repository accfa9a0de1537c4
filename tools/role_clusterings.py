"""Which role action spaces RODE's clustering gives a run's learned action representations, for
several numbers of clusters.

RODE's level on SMAX 3m is decided by its k-means (docs/results.md, "Where RODE's gap comes
from"): runs whose clustering keeps a role holding every action reach QMIX's level, runs whose
clustering splits the attacks do not. The representations are frozen at the clustering and saved
in every checkpoint, so the role spaces that `n_role_clusters=k` would have produced can be read
off a finished run without training again: this re-clusters them with k-means seeds 0..n-1 and
the framework's own rule (`modules.rode.role_spaces.role_action_spaces`, the env's declared no-op
and movement actions), and counts the distinct outcomes.

    python -m tools.role_clusterings results/models/<rode run> [...] --clusters 2 3 5 --kmeans-seeds 20

Each role space prints as one 0/1 character per action (SMAX: moves 0-3, stop 4, attacks 5-7).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from collections import Counter
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from envs import make_env  # noqa: E402
from modules.rode.role_spaces import cluster_role_spaces  # noqa: E402
from utils.checkpoint import CHECKPOINT_FILE, checkpoint_steps, load_checkpoint  # noqa: E402


def space_text(space: torch.Tensor) -> str:
    return "".join(str(int(v)) for v in space.tolist())


def distinct_spaces(spaces: torch.Tensor) -> tuple[str, ...]:
    """[R, A] role spaces -> the sorted distinct ones as 0/1 strings (repeated roles are one role)."""
    return tuple(sorted({space_text(s) for s in spaces}))


def clusterings(action_repr: torch.Tensor, n_clusters: int, kmeans_seeds: int, noop_action: int | None,
                move_actions: tuple[int, ...] | None, iters: int = 100) -> Counter:
    """How often each set of distinct role spaces comes out of k-means seeds 0..kmeans_seeds-1
    (`iters`: Lloyd iterations, the run's `kmeans_iters`)."""
    outcomes: Counter = Counter()
    for seed in range(kmeans_seeds):
        spaces = cluster_role_spaces(action_repr, n_clusters, iters, torch.Generator().manual_seed(seed),
                                     noop_action, move_actions)
        outcomes[distinct_spaces(spaces)] += 1
    return outcomes


def env_actions(config: dict) -> tuple[int | None, tuple[int, ...] | None]:
    """(noop_action, move_actions) the run's env declares, read from an env built with its saved env_args."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SMAC -> SMAX backend fallback notice
        env = make_env(config["env"], config.get("env_args") or {}, 0)
    info = env.get_env_info()
    env.close()
    return info.noop_action, info.move_actions


def report(run_dir: Path, clusters: list[int], kmeans_seeds: int) -> str:
    steps = checkpoint_steps(run_dir)
    state = load_checkpoint(run_dir / str(steps[-1]) / CHECKPOINT_FILE)
    roles = state["learner"]["mac"].get("roles_net")
    if roles is None:
        raise SystemExit(f"{run_dir}: not a RODE run (no roles_net in its checkpoint)")
    noop, moves = env_actions(state["config"])
    clustered_at = int(roles["clustered_at"].item())
    iters = state["config"]["kmeans_iters"]
    lines = [f"{run_dir.name} (step {steps[-1]:,}, n_role_clusters={state['config']['n_role_clusters']}, "
             + (f"clustered at {clustered_at:,})" if clustered_at >= 0
                else "not clustered yet: current representations)"),
             f"  trained role spaces: {' '.join(distinct_spaces(roles['spaces']))}"]
    for k in clusters:
        outcomes = clusterings(roles["action_repr"], k, kmeans_seeds, noop, moves, iters)
        shown = ", ".join(f"{' '.join(spaces)} ({count}/{kmeans_seeds})" for spaces, count in outcomes.most_common())
        lines.append(f"  k={k}: {shown}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="model directories of RODE runs")
    parser.add_argument("--clusters", nargs="+", type=int, default=[2, 3, 4, 5])
    parser.add_argument("--kmeans-seeds", type=int, default=20)
    args = parser.parse_args(argv)
    if any(k < 1 for k in args.clusters) or args.kmeans_seeds < 1:
        parser.error("--clusters and --kmeans-seeds must be positive")
    missing = [str(r) for r in args.runs if not r.is_dir()]
    if missing:
        parser.error(f"no such run directory: {', '.join(missing)}")
    for run_dir in args.runs:  # every run has checkpoints before any is read
        try:
            checkpoint_steps(run_dir)
        except FileNotFoundError as error:
            parser.error(str(error))
    for run_dir in args.runs:
        print(report(run_dir, args.clusters, args.kmeans_seeds), flush=True)


if __name__ == "__main__":
    main()

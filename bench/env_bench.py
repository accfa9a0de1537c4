"""SMAX throughput as the parallel runner sees it: numpy actions in, numpy obs/state/masks out.

Runs episodes in lockstep (finished envs go inactive until all B are done, then all reset), with
uniformly random available actions, and counts only active env-steps. Usage:
    python bench/env_bench.py [--map 3m] [--batch 1 8] [--seconds 10]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from envs import make_vec_env  # noqa: E402


def random_available(rng: np.random.Generator, avail: np.ndarray) -> np.ndarray:
    p = avail / avail.sum(-1, keepdims=True)
    return (p.cumsum(-1) > rng.random(p.shape[:-1])[..., None]).argmax(-1)


def bench(map_name: str, batch: int, seconds: float) -> tuple[float, float, float]:
    """(env-steps/s, build+compile seconds, mean episode length) for one batch size."""
    t0 = time.perf_counter()
    env = make_vec_env("sc2", {"map_name": map_name, "backend": "smax"}, list(range(batch)))
    env.step(np.full((batch, env.get_env_info().n_agents), 4), np.ones(batch, dtype=bool))  # compile the step
    build = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    steps, episodes = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.reset(None)
        active = np.ones(batch, dtype=bool)
        while active.any():
            avail = env.get_avail_actions()
            _, terminated, _ = env.step(random_available(rng, avail), active)
            env.get_obs(), env.get_state()
            steps += int(active.sum())
            active &= ~terminated
        episodes += batch
    elapsed = time.perf_counter() - start
    return steps / elapsed, build, steps / episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--map", default="3m")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    for batch in args.batch:
        rate, build, length = bench(args.map, batch, args.seconds)
        print(f"SMAX {args.map} B={batch:3d}: {rate:8.0f} env-steps/s ({rate / batch:6.0f} batched steps/s), "
              f"build+compile {build:.1f} s, mean episode length {length:.1f}")


if __name__ == "__main__":
    main()

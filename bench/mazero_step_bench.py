"""Wall-clock of MAZero training per 1,000 environment steps, split into its two costs.

    per 1k env steps = (1000 / batch_size_run) self-play searches   (one lockstep step of all envs)
                     + 1000 * updates_per_env_step learner updates  (reanalysis search + unroll + Adam)

Both are timed on synthetic data of a SMAX map's shapes, so the number isolates the algorithm
from the simulator (SMAX itself steps at thousands of env-steps/s, see bench/env_bench.py).
The update is the uncached one (`reanalyse_cache=false`, in process): every sampled position is
searched, the worst case. What the reanalysis cache and workers save depends on the replay and
is measured end to end on real runs by bench/run_cost_monitor.py (docs/benchmarks.md).

    python bench/mazero_step_bench.py --config mazero            # the CPU budget (README command)
    python bench/mazero_step_bench.py --config mazero_paper --device cuda --cuda-graph
    python bench/mazero_step_bench.py --config mazero --set compile_unroll=false   # the eager training step
    python bench/mazero_step_bench.py --config mazero --compare-compiled           # inductor vs eager, then time
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from config.loader import load_layers, recursive_update  # noqa: E402
from config.mazero_schema import MAZeroConfig  # noqa: E402
from components.transition_replay import PrioritizedTransitionReplay  # noqa: E402
from components.episode_buffer import EpisodeBatch  # noqa: E402
from controllers.mazero_controller import MAZeroMAC  # noqa: E402
from envs.multiagentenv import EnvInfo  # noqa: E402
from learners.mazero_learner import MAZeroLearner  # noqa: E402
from run import build_scheme  # noqa: E402
from utils.logging import Logger, get_console_logger  # noqa: E402

MAP_SHAPES = {  # EnvInfo of our SMAX wrapper (n_agents, n_actions, obs, state, limit)
    "3m": (3, 8, 75, 96, 60),
    "8m": (8, 13, 205, 296, 120),
}


def synthetic_episodes(scheme, groups, preprocess, info: EnvInfo, n: int, rng: np.random.Generator) -> EpisodeBatch:
    batch = EpisodeBatch(scheme, groups, n, info.episode_limit + 1, preprocess=preprocess)
    length = info.episode_limit // 2
    T, N, A = length + 1, info.n_agents, info.n_actions
    batch.update({"obs": rng.standard_normal((n, T, N, info.obs_shape)).astype(np.float32),
                  "state": rng.standard_normal((n, T, info.state_shape)).astype(np.float32),
                  "avail_actions": np.ones((n, T, N, A))}, ts=slice(0, T))
    batch.update({"actions": rng.integers(0, A, (n, length, N, 1)), "reward": rng.random((n, length, 1)),
                  "terminated": np.eye(length)[None, -1, :, None].repeat(n, 0)}, ts=slice(0, length), mark_filled=False)
    return batch


def timed(fn, repeats: int, device: torch.device) -> tuple[float, float]:
    """Median (wall, process CPU) seconds of `fn` after one warm-up call. On a shared CPU the
    process time of a single-threaded run is what an idle machine's wall-clock would be."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return float(np.median(walls)), float(np.median(cpus))


def build_learner(args: MAZeroConfig, scheme: dict, groups: dict, device: torch.device) -> MAZeroLearner:
    learner = MAZeroLearner(MAZeroMAC(scheme, groups, args), scheme, Logger(get_console_logger("bench")), args)
    if device.type == "cuda":
        learner.cuda()
    return learner


def compare_compiled(args: MAZeroConfig, scheme: dict, groups: dict, replay, device: torch.device,
                     rounds: int = 12) -> None:
    """The eager and the inductor-compiled unroll (`compile_unroll`) side by side. First two updates of each
    from the same weights on the same batches with dropout off (a compiled graph draws its own masks):
    the largest differences. Then the config as given, eager and compiled updates alternating on the same
    batches in one process, so that a shared machine's load drifts over both alike: median process CPU."""
    def learner(config: MAZeroConfig) -> MAZeroLearner:  # the same initial weights for both
        torch.manual_seed(0)
        return build_learner(config, scheme, groups, device)

    batches = [replay.sample(args.batch_size) for _ in range(2)]
    losses, weights = [], []
    for compiled in (False, True):
        trained = learner(args.model_copy(update={"compile_unroll": compiled, "dropout": 0.0}))
        losses.append([trained.train(batch, 10**6, 10**4).stats["loss"] for batch in batches])
        weights.append(torch.cat([p.detach().flatten().cpu() for p in trained.model.parameters()]))
    loss_gap = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(*losses))
    print(f"compiled vs eager after 2 updates (dropout 0): largest relative loss difference {loss_gap:.2e}, "
          f"largest weight difference {(weights[1] - weights[0]).abs().max().item():.2e}")

    learners = {compiled: learner(args.model_copy(update={"compile_unroll": compiled})) for compiled in (False, True)}
    for compiled, trained in learners.items():
        start = time.process_time()
        trained.train(replay.sample(args.batch_size), 10**6, 10**4)
        print(f"first update ({'compiled' if compiled else 'eager'}, compiling included): "
              f"{time.process_time() - start:.1f} s of process CPU")
    cpu: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        batch = replay.sample(args.batch_size)
        for compiled, trained in learners.items():
            start = time.process_time()
            trained.train(batch, 10**6, 10**4)
            cpu[compiled].append(time.process_time() - start)
    eager, compiled = (1e3 * float(np.median(cpu[key])) for key in (False, True))
    print(f"update, median process CPU over {rounds} alternating rounds: eager {eager:.1f} ms, compiled "
          f"{compiled:.1f} ms ({100 * (1 - compiled / eager):.0f}% less)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="mazero")
    parser.add_argument("--map", default="3m", choices=sorted(MAP_SHAPES))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--cuda-graph", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the search's tree steps")
    parser.add_argument("--bf16", action="store_true", help="bf16 latent pool and autocast in searches")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides key=value (yaml values)")
    parser.add_argument("--compare-compiled", action="store_true",
                        help="before timing, check that compile_unroll=True (inductor) trains as eager does")
    opts = parser.parse_args()
    if opts.threads:
        torch.set_num_threads(opts.threads)

    import yaml

    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in opts.set)}
    raw = recursive_update(load_layers(opts.config, "sc2"), {
        "seed": 0, "use_cuda": opts.device == "cuda", "search_cuda_graph": opts.cuda_graph,
        "search_compile_tree": opts.compile,
        "search_latent_bf16": opts.bf16, "search_autocast_bf16": opts.bf16,
        "reanalyse_cache": False, "reanalyse_workers": 0, **overrides})
    raw["env_args"] = {}
    args = MAZeroConfig.model_validate(raw)
    n_agents, n_actions, obs, state, limit = MAP_SHAPES[opts.map]
    args.env_info = EnvInfo(n_agents, n_actions, obs, state, limit, "synthetic", 4)
    device = torch.device(opts.device)

    scheme, groups, preprocess = build_scheme(args.env_info)
    replay = PrioritizedTransitionReplay(scheme, groups, args, preprocess)
    rng = np.random.default_rng(0)
    while len(replay) < max(4 * args.batch_size, args.min_replay_transitions):
        replay.insert_episode_batch(synthetic_episodes(scheme, groups, preprocess, args.env_info, 16, rng))
    if opts.compare_compiled:
        compare_compiled(args, scheme, groups, replay, device)
    learner = build_learner(args, scheme, groups, device)
    mac = learner.mac
    acting = synthetic_episodes(scheme, groups, preprocess, args.env_info, args.batch_size_run, rng)
    rows = np.arange(args.batch_size_run)

    search_s, search_cpu = timed(lambda: mac.select_actions(acting, t_ep=3, t_env=10**9, bs=rows), opts.repeats, device)
    update_s, update_cpu = timed(lambda: learner.train(replay.sample(args.batch_size), 10**6, 10**4),
                                 opts.repeats, device)
    searches = 1000 / args.batch_size_run
    updates = 1000 * (args.updates_per_env_step or 0.0)
    total = searches * search_s + updates * update_s

    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# {date.today()} | {name} | torch {torch.__version__} | threads {torch.get_num_threads()} | "
          f"cpus {os.cpu_count()} | load {os.getloadavg()[0]:.2f}")
    print(f"config={opts.config} map={opts.map} device={opts.device} cuda_graph={opts.cuda_graph} compile={opts.compile} bf16={opts.bf16} "
          f"N_sim={args.num_simulations} K={args.num_sampled_actions} batch={args.batch_size} "
          f"unroll={args.unroll_steps} envs={args.batch_size_run} updates/step={args.updates_per_env_step}")
    print(f"self-play search (B={args.batch_size_run} roots):       {1e3 * search_s:9.1f} ms per lockstep step")
    print(f"learner update (B={args.batch_size}x{args.unroll_steps + 1} reanalysis): {1e3 * update_s:9.1f} ms")
    print(f"per 1,000 env steps: {searches:.0f} searches = {searches * search_s:8.1f} s, "
          f"{updates:.0f} updates = {updates * update_s:8.1f} s, total {total:8.1f} s")
    if device.type == "cpu":
        cpu_total = searches * search_cpu + updates * update_cpu
        print(f"process CPU time: search {1e3 * search_cpu:.1f} ms, update {1e3 * update_cpu:.1f} ms, "
              f"per 1,000 env steps {cpu_total:.1f} s (= idle wall-clock when single-threaded)")


if __name__ == "__main__":
    main()

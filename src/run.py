"""The training loop: collect -> store -> update -> evaluate -> checkpoint -> log.

Each step is a small function over one `Experiment`; algorithms change behaviour through the
registries (runner, controller, replay, learner) and the controller's hooks, never by forking
this loop."""
from __future__ import annotations

import math
import os
import re
import signal
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from components import REPLAY_REGISTRY
from components.replay import Replay
from components.transforms import OneHot
from config.schema import RunConfig
from controllers import REGISTRY as MAC_REGISTRY
from controllers.base import Controller
from envs.registry import ENV_REGISTRY
from learners import REGISTRY as LEARNER_REGISTRY
from learners.base import Learner
from runners import REGISTRY as RUNNER_REGISTRY
from runners.parallel_runner import ParallelRunner
from utils.cadence import updates_due
from utils.checkpoint import (CheckpointError, check_compatible, load_readable_checkpoint, rng_state, save_checkpoint,
                              set_rng_state, weights_mismatch)
from utils.divergence import DivergenceError, check_finite_state, check_finite_stats
from utils.logging import Logger
from utils.progress import progress_line


@dataclass
class LoopState:
    """Counters of the loop itself; checkpointed so a resumed run keeps its schedule."""

    updates_done: int = 0
    last_test_t: int | None = None
    last_log_t: int = 0
    last_runner_log_t: int = 0
    last_save_t: int = 0
    last_learner_log_t: int | None = None
    wall_time: float = 0.0


@dataclass
class Experiment:
    args: RunConfig
    logger: Logger
    runner: ParallelRunner
    replay: Replay
    mac: Controller
    learner: Learner
    model_dir: Path
    state: LoopState = field(default_factory=LoopState)
    upcoming: deque = field(default_factory=deque)  # batches already shown to a learner with lookahead (checkpointed)
    started: float = field(default_factory=time.time)
    last_progress_print: float = field(default_factory=time.time)


PROGRESS_EVERY_S = 30.0  # the progress line also appears at least this often, whatever the log intervals


class StopRequest:
    """Turns SIGINT/SIGTERM into a flag the loop checks, so it can save before leaving."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopRequest":
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signal_name is not None:  # a second signal: stop at once
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


# Learner state that is not weights: MAZero's reanalysis cache, whose search targets may hold infinities.
UNCHECKED_LEARNER_STATE = ("reanalysis",)


# ------------------------------------------------------------------------ setup
def build_scheme(env_info: Any) -> tuple[dict, dict, dict]:
    scheme = {
        "state": {"vshape": env_info.state_shape},
        "obs": {"vshape": env_info.obs_shape, "group": "agents"},
        "actions": {"vshape": (1,), "group": "agents", "dtype": torch.long},
        "avail_actions": {"vshape": (env_info.n_actions,), "group": "agents", "dtype": torch.int},
        "reward": {"vshape": (1,)},
        "terminated": {"vshape": (1,), "dtype": torch.uint8},
    }
    groups = {"agents": env_info.n_agents}
    preprocess = {"actions": ("actions_onehot", [OneHot(env_info.n_actions)])}
    return scheme, groups, preprocess


def run_token(args: RunConfig, env_label: str) -> str:
    """Checkpoint folder name; the process id keeps two runs started in the same second apart."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{args.name}__{env_label}__seed{args.seed}__{stamp}-{os.getpid()}")


def build_experiment(args: RunConfig, logger: Logger, env_label: str) -> Experiment:
    spec = ENV_REGISTRY[args.env]
    env_args = spec.args_model.model_validate(args.env_args)
    runner = RUNNER_REGISTRY[args.runner](args, logger, lambda seeds: spec.make_vec_env(env_args, seeds))
    args.env_info = runner.get_env_info()
    scheme, groups, preprocess = build_scheme(args.env_info)
    mac = MAC_REGISTRY[args.mac](scheme, groups, args)
    scheme.update(mac.extra_scheme())
    replay = REPLAY_REGISTRY[args.buffer](scheme, groups, args, preprocess)
    runner.setup(scheme, groups, preprocess, mac)
    learner = LEARNER_REGISTRY[args.learner](mac, scheme, logger, args)
    if args.use_cuda:
        learner.cuda()
    model_dir = Path(args.results_dir) / "models" / run_token(args, env_label)
    return Experiment(args, logger, runner, replay, mac, learner, model_dir)


# ------------------------------------------------------------------- the steps
def collect(exp: Experiment) -> Any:
    return exp.runner.run(test_mode=False)


def store(exp: Experiment, batch: Any) -> None:
    exp.replay.insert_episode_batch(batch)


def next_sample(exp: Experiment) -> Any:
    """The batch to train on now. A learner with `lookahead = L` is shown batches in groups of L,
    a group before the previous one starts training, so slow work on a whole group (MAZero's
    reanalysis searches) overlaps L updates; those batches' priorities are up to 2L updates stale."""
    L, batch_size = exp.learner.lookahead, exp.args.batch_size
    if not L:
        return exp.replay.sample(batch_size)
    while len(exp.upcoming) <= L:
        group = [exp.replay.sample(batch_size) for _ in range(L)]
        exp.learner.prepare(group)
        exp.upcoming.extend(group)
    return exp.upcoming.popleft()


def update(exp: Experiment) -> None:
    args, state = exp.args, exp.state
    n = updates_due(exp.runner.t_env, state.updates_done, args.updates_per_rollout, args.updates_per_env_step)
    for _ in range(n):
        if not exp.replay.can_sample(args.batch_size):
            break
        sample = next_sample(exp)
        out = exp.learner.train(sample, exp.runner.t_env, exp.runner.episodes)
        check_finite_stats(out.stats, exp.runner.t_env)  # a diverged update stops the run before it is saved
        if out.priorities is not None:
            exp.replay.update_priorities(sample, out.priorities)
        state.updates_done += 1
        last = state.last_learner_log_t
        if out.stats and (last is None or exp.runner.t_env - last >= args.learner_log_interval):
            for key, value in out.stats.items():
                exp.logger.log_stat(key, value, exp.runner.t_env)
            state.last_learner_log_t = exp.runner.t_env
    exp.replay.after_update()


def evaluate(exp: Experiment) -> None:
    """`test_nepisode` episodes per test variant (MAZero adds a prior-only variant)."""
    args, runner = exp.args, exp.runner
    variants = exp.mac.test_variants()
    for variant in variants:
        exp.mac.use_test_variant(variant)
        runner.test_prefix = f"test_{variant}"
        runner.start_test()
        episodes = [runner.run(test_mode=True) for _ in range(math.ceil(args.test_nepisode / args.batch_size_run))]
        if variant == variants[0]:  # episodes the learner never trains on: its held-out diagnostics
            for key, value in exp.learner.held_out_stats(episodes).items():
                exp.logger.log_stat(f"test_{key}", value, runner.t_env)
    exp.mac.use_test_variant("")
    exp.state.last_test_t = runner.t_env


def save_due(t_env: int, last_save_t: int, interval: int) -> bool:
    """A periodic checkpoint is due at the first step past each multiple of `interval`. Counting from
    the last save instead would let an off-schedule save (an interrupt, a crash) shift every later
    one: a run stopped at 18.3k of a 12.5k schedule would then save at 30.8k, not at 25k."""
    return t_env // interval > last_save_t // interval


def checkpoint(exp: Experiment) -> Path:
    """Saves everything needed to continue exactly: networks, optimisers, counters, RNGs (replay optional)."""
    t_env = exp.runner.t_env
    exp.state.wall_time += time.time() - exp.started
    exp.started = time.time()
    state = {
        "t_env": t_env,
        "loop": {**asdict(exp.state), "last_save_t": t_env},  # a resumed run keeps the saving schedule
        "runner": exp.runner.state_dict(),
        "learner": exp.learner.state_dict(),
        "rng": rng_state(),
        "replay": exp.replay.state_dict() if exp.args.save_replay_buffer else None,
        "upcoming": list(exp.upcoming) if exp.args.save_replay_buffer else None,
        "config": exp.args.model_dump(mode="json"),
    }
    check_finite_state({k: v for k, v in state["learner"].items() if k not in UNCHECKED_LEARNER_STATE}, t_env)
    path = save_checkpoint(exp.model_dir / str(t_env), state)
    exp.state.last_save_t = t_env
    exp.logger.console.info(f"saved checkpoint {path}")
    return path


def check_checkpoint_config(exp: Experiment, path: Path, saved: dict | None) -> None:
    """Refuses a checkpoint of another algorithm or map before its weights meet this run's networks,
    and warns when a resumed run will not continue the source run's episode seeds."""
    if saved is None:
        exp.logger.console.warning(f"{path} holds no config: cannot check that it matches this run")
        return
    check_compatible(saved, exp.args.model_dump(mode="json"), path)
    saved_seed = saved.get("seed")
    if not exp.args.evaluate and saved_seed is not None and saved_seed != exp.args.seed:
        exp.logger.console.warning(f"this run's seed {exp.args.seed} is not the checkpoint's {saved_seed}: its "
                                   f"episodes do not continue the source run's (omit seed= to take the checkpoint's)")


def restore(exp: Experiment, checkpoint_path: str, load_step: int) -> Path:
    """Loads a checkpoint into this run. The run keeps its own `model_dir`: a resumed run is a new
    run, and the source run's files are only ever read."""
    path, state = load_readable_checkpoint(checkpoint_path, load_step, exp.args.device, exp.logger.console.warning)
    check_checkpoint_config(exp, path, state.get("config"))
    try:
        exp.learner.load_state_dict(state["learner"])
    except RuntimeError as err:  # torch names the tensors that do not fit; the user needs the settings
        raise CheckpointError(weights_mismatch(path, state.get("config"), exp.args.model_dump(mode="json"))) from err
    exp.runner.load_state_dict(state["runner"])
    exp.state = LoopState(**{k: v for k, v in state["loop"].items() if k in LoopState.__dataclass_fields__})
    if state.get("replay") is not None:
        exp.replay.load_state_dict(state["replay"])
        upcoming = state.get("upcoming") or []
        exp.upcoming = deque(upcoming if isinstance(upcoming, list) else [upcoming])
        if exp.upcoming:
            exp.learner.prepare(list(exp.upcoming))
    set_rng_state(state["rng"])
    exp.logger.console.info(f"restored {path} at t_env={exp.runner.t_env}; checkpoints go to {exp.model_dir}")
    return path


def log_progress(exp: Experiment) -> None:
    args, runner, state = exp.args, exp.runner, exp.state
    elapsed = state.wall_time + time.time() - exp.started
    if runner.t_env - state.last_runner_log_t >= args.runner_log_interval:
        runner.log_train_stats()
        exp.logger.log_stat("wall_time", elapsed, runner.t_env)
        exp.logger.log_stat("episode", runner.episodes, runner.t_env)
        state.last_runner_log_t = runner.t_env
        exp.last_progress_print = 0.0
    if args.progress and time.time() - exp.last_progress_print >= PROGRESS_EVERY_S:
        exp.logger.console.info(progress_line(exp.logger, runner.t_env, args.t_max, elapsed))
        exp.last_progress_print = time.time()
    if runner.t_env - state.last_log_t >= args.log_interval:
        exp.logger.print_recent_stats()
        state.last_log_t = runner.t_env


# --------------------------------------------------------------------- the loop
def train(exp: Experiment, sacred_run: Any = None) -> None:
    args, runner, state = exp.args, exp.runner, exp.state
    with StopRequest() as stop:
        try:
            while runner.t_env < args.t_max and stop.signal_name is None:
                store(exp, collect(exp))
                update(exp)
                if state.last_test_t is None or runner.t_env - state.last_test_t >= args.test_interval:
                    evaluate(exp)
                if args.save_model and save_due(runner.t_env, state.last_save_t, args.save_model_interval):
                    checkpoint(exp)
                log_progress(exp)
        except DivergenceError as err:  # the last finite checkpoint must stay the newest
            if err.t_env is None:  # raised where the step is unknown (a replay's priorities)
                err.t_env = runner.t_env
            if sacred_run is not None:
                sacred_run.info["diverged"] = str(err)
            raise
        except Exception:
            if args.save_model:  # keep what the crash would lose
                checkpoint(exp)
            raise
        if stop.signal_name is not None:
            if args.save_model:
                checkpoint(exp)
            if sacred_run is not None:
                sacred_run.info["interrupted"] = stop.signal_name
            saved = "checkpoint saved" if args.save_model else "no checkpoint (save_model=False)"
            exp.logger.console.warning(f"{stop.signal_name} received: {saved}, run marked interrupted")
            raise KeyboardInterrupt
    if state.last_test_t != runner.t_env:
        evaluate(exp)
    if args.save_model and state.last_save_t != runner.t_env:
        checkpoint(exp)
    exp.logger.print_recent_stats()


def run(args: RunConfig, logger: Logger, env_label: str, sacred_run: Any = None) -> Experiment:
    torch.set_num_threads(args.torch_threads)
    exp = build_experiment(args, logger, env_label)
    if sacred_run is not None:
        sacred_run.info["model_dir"] = str(exp.model_dir)
        sacred_run.info["env_info"] = asdict(args.env_info)
    try:
        if args.checkpoint_path:
            resumed_from = restore(exp, args.checkpoint_path, args.load_step)
            if sacred_run is not None:
                sacred_run.info["resumed_from"] = str(resumed_from)
        if args.evaluate:
            evaluate(exp)
            exp.logger.print_recent_stats()
        else:
            train(exp, sacred_run)
    finally:
        exp.runner.close()
        exp.learner.close()
        logger.close()
    return exp

"""The parallel runner: lockstep episodes, seeds, and recovery from a crashing simulator."""
import torch

from config.loader import load_layers, recursive_update
from config.resolve import resolve_config
from controllers import REGISTRY as MAC_REGISTRY
from envs.registry import ENV_REGISTRY
from envs.vec_env import VecEnv
from run import build_scheme
from runners.parallel_runner import TEST_STREAM, TRAIN_STREAM, ParallelRunner, episode_seeds
from utils.logging import Logger, get_console_logger


class CrashingVecEnv(VecEnv):
    """Fault injection around a real environment: the k-th step raises, as a dying simulator would."""

    created = 0

    def __init__(self, inner: VecEnv, crash_at_step: int | None):
        self.inner, self.crash_at_step, self.steps = inner, crash_at_step, 0
        self.num_envs = inner.num_envs
        CrashingVecEnv.created += 1

    def step(self, actions, active):
        self.steps += 1
        if self.steps == self.crash_at_step:
            raise ConnectionError("simulator went away")
        return self.inner.step(actions, active)

    def reset(self, seeds=None):
        self.inner.reset(seeds)

    def get_obs(self):
        return self.inner.get_obs()

    def get_state(self):
        return self.inner.get_state()

    def get_avail_actions(self):
        return self.inner.get_avail_actions()

    def get_env_info(self):
        return self.inner.get_env_info()


def make_runner(crash_at_step=None, batch_size_run=3):
    args = resolve_config(recursive_update(load_layers("qmix", "matrix"), {
        "runner": "parallel", "batch_size_run": batch_size_run, "seed": 11, "env_args": {"map_name": "matgame3"}}))
    spec = ENV_REGISTRY["matrix"]
    env_args = spec.args_model.model_validate(args.env_args)
    crash_plan = iter([crash_at_step])  # only the first environment instance crashes

    def factory(seeds):
        return CrashingVecEnv(spec.make_vec_env(env_args, seeds), next(crash_plan, None))

    runner = ParallelRunner(args, Logger(get_console_logger("test")), factory)
    args.env_info = runner.get_env_info()
    scheme, groups, preprocess = build_scheme(args.env_info)
    mac = MAC_REGISTRY[args.mac](scheme, groups, args)
    runner.setup(scheme, groups, preprocess, mac)
    return runner


def test_lockstep_batch_is_complete_and_counts_steps():
    runner = make_runner()
    batch = runner.run(test_mode=False)
    limit = runner.episode_limit
    assert batch.batch_size == 3 and runner.t_env == 3 * limit and runner.episodes == 3
    assert torch.all(batch["filled"][:, : limit + 1] == 1)
    assert torch.all(batch["terminated"][:, limit - 1] == 1) and batch["terminated"].sum() == 3


def test_test_episodes_do_not_advance_t_env_and_reuse_fixed_seeds():
    runner = make_runner()
    runner.start_test()
    first = runner.run(test_mode=True)["obs"].clone()
    runner.start_test()
    second = runner.run(test_mode=True)["obs"].clone()
    assert runner.t_env == 0 and torch.equal(first, second)


def test_a_crashed_environment_is_restarted_and_its_episode_discarded():
    CrashingVecEnv.created = 0
    runner = make_runner(crash_at_step=4)
    batch = runner.run(test_mode=False)
    assert CrashingVecEnv.created == 2 and runner.env_restarts == 1
    assert runner.episodes == 3 and runner.t_env == 3 * runner.episode_limit  # the broken episodes were not counted
    assert torch.all(batch["filled"][:, : runner.episode_limit + 1] == 1)
    assert runner.logger.latest("env_restarts") == 1


def test_an_evaluation_logs_exactly_test_nepisode_episodes():
    """batch_size_run=3: 5 test episodes are one full round plus a round of 2 envs, not 6."""
    runner = make_runner()
    runner.args.test_nepisode = 5
    runner.start_test()
    full = runner.run(test_mode=True)
    assert runner.test_stats.count == 3 and torch.all(full["filled"][:, 0] == 1)
    partial = runner.run(test_mode=True)
    assert runner._test_episodes_done == 5 and runner.t_env == 0
    assert partial["filled"][:2].sum() > 0 and partial["filled"][2].sum() == 0  # the third env did not play
    assert runner.logger.latest("test_return_mean") is not None


def test_episode_seeds_of_neighbouring_runs_and_streams_never_overlap():
    """Regression: env seeds were run seed + episode, so runs 1 and 2 replayed each other's
    scenarios one episode apart and shared almost the same fixed test episodes."""
    per_run = {(seed, stream): episode_seeds(seed, stream, 0, 2000) for seed in range(1, 6)
               for stream in (TRAIN_STREAM, TEST_STREAM)}
    every = [s for seeds in per_run.values() for s in seeds]
    assert len(set(every)) == len(every)  # distinct across runs, streams and episodes
    assert all(0 <= s < 2**31 for s in every)
    assert episode_seeds(3, TRAIN_STREAM, 100, 8) == per_run[(3, TRAIN_STREAM)][100:108]  # resumable

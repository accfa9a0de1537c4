"""Steps `batch_size_run` environments in lockstep and returns their episodes as one EpisodeBatch."""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from components.episode_buffer import EpisodeBatch
from config.schema import RunConfig
from controllers.base import Controller
from envs.vec_env import VecEnv
from runners.episode_stats import EpisodeStats
from utils.logging import Logger

MAX_CONSECUTIVE_RESTARTS = 5
TRAIN_STREAM, TEST_STREAM = 0, 1


def episode_seeds(run_seed: int, stream: int, first_episode: int, count: int) -> list[int]:
    """Environment seeds of episodes first_episode .. first_episode + count - 1 of one stream.

    Hashed from (run seed, stream, episode) with numpy's SeedSequence, so runs with neighbouring
    seeds draw unrelated scenarios (with seed + episode, run seed 2 would replay run seed 1's
    scenarios one episode later, and every run's fixed test set would be nearly the same).
    Values fit in [0, 2**31), which every backend accepts."""
    return [int(np.random.SeedSequence([run_seed, stream, first_episode + i]).generate_state(1)[0] >> 1)
            for i in range(count)]


def construction_seeds(args: RunConfig) -> list[int]:
    """Seeds the runner builds its environments with, fixed per run: they fix what an environment
    fixes at construction (a matrix game's action relabelling), so a tool can rebuild the same game."""
    return episode_seeds(args.seed or 0, TRAIN_STREAM, 0, args.batch_size_run)


class EnvironmentCrashed(RuntimeError):
    """An environment kept failing after several restarts."""


class ParallelRunner:
    """Collects whole episodes from a VecEnv with the controller's actions.

    Training episodes get fresh seeds derived from (seed, episode counter), so a resumed run
    continues the same seed sequence; test episodes always use the same fixed seeds, so
    successive evaluations are comparable."""

    def __init__(self, args: RunConfig, logger: Logger, make_vec_env: Callable[[list[int]], VecEnv]):
        self.args = args
        self.logger = logger
        self.batch_size = args.batch_size_run
        self._make_vec_env = make_vec_env
        self._construction_seeds = construction_seeds(args)
        self.env = make_vec_env(self._construction_seeds)
        self.env_info = self.env.get_env_info()
        self.episode_limit = self.env_info.episode_limit
        self.t_env = 0
        self.episodes = 0
        self.env_restarts = 0
        self.train_stats = EpisodeStats()
        self.test_stats = EpisodeStats()
        self._test_episodes_done = 0
        self.test_prefix = "test_"
        self._steps_since_log = 0
        self._time_since_log = time.time()
        self._mac: Controller | None = None

    def setup(self, scheme: dict, groups: dict, preprocess: dict, mac: Controller) -> None:
        self.scheme, self.groups, self.preprocess, self._mac = scheme, groups, preprocess, mac

    @property
    def mac(self) -> Controller:
        """The controller that acts; `setup` hands it over once the scheme is known."""
        if self._mac is None:
            raise RuntimeError("runner.setup(...) must be called before the runner collects episodes")
        return self._mac

    def get_env_info(self):
        return self.env_info

    def _seeds(self, first_episode: int, test_mode: bool) -> list[int]:
        return episode_seeds(self.args.seed or 0, TEST_STREAM if test_mode else TRAIN_STREAM, first_episode,
                             self.batch_size)

    def new_batch(self) -> EpisodeBatch:
        device = "cpu" if self.args.buffer_cpu_only else self.args.device
        return EpisodeBatch(self.scheme, self.groups, self.batch_size, self.episode_limit + 1,
                            preprocess=self.preprocess, device=device)

    # ---------------------------------------------------------------- rollout
    def run(self, test_mode: bool = False) -> EpisodeBatch:
        """One batch of episodes; a crashed environment is restarted and its episodes discarded."""
        for _ in range(MAX_CONSECUTIVE_RESTARTS + 1):
            first = self._test_episodes_done if test_mode else self.episodes
            seeds = self._seeds(first, test_mode)
            try:
                batch, episodes = self._rollout(seeds, test_mode, self._envs_to_run(test_mode))
            except Exception as err:  # a simulator crash (StarCraft II does crash): restart it
                self._restart_env(err)
                continue
            self._account(batch, episodes, test_mode)
            return batch
        raise EnvironmentCrashed(f"environment crashed {MAX_CONSECUTIVE_RESTARTS + 1} times in a row")

    def _envs_to_run(self, test_mode: bool) -> int:
        """All envs in training; in a test round only as many as `test_nepisode` still needs, so an
        evaluation logs exactly `test_nepisode` episodes whatever `batch_size_run` is."""
        if not test_mode:
            return self.batch_size
        return max(1, min(self.batch_size, self.args.test_nepisode - self._test_episodes_done))

    @torch.inference_mode()
    def _rollout(self, seeds: list[int], test_mode: bool, n_run: int) -> tuple[EpisodeBatch, list[dict]]:
        """Envs [0, n_run) play one episode each; the rest stay frozen (rows left unfilled)."""
        batch = self.new_batch()
        self.env.reset(seeds)
        self.mac.init_hidden(batch_size=self.batch_size)
        n_agents = self.env_info.n_agents
        active = np.arange(self.batch_size) < n_run
        returns = np.zeros(self.batch_size, dtype=np.float64)
        lengths = np.zeros(self.batch_size, dtype=np.int64)
        final_infos: list[dict] = [{} for _ in range(self.batch_size)]
        first_rows = np.flatnonzero(active)
        batch.update({k: v[first_rows] for k, v in self._observation(slice(None)).items()}, bs=first_rows, ts=0)
        t = 0
        while active.any():
            rows = np.flatnonzero(active)
            actions = self.mac.select_actions(batch, t_ep=t, t_env=self.t_env, bs=rows, test_mode=test_mode)
            extras = self.mac.step_extras()
            full_actions = np.zeros((self.batch_size, n_agents), dtype=np.int64)
            full_actions[rows] = actions.cpu().numpy()
            rewards, terminated, infos = self.env.step(full_actions, active)
            cut_by_limit = np.array([bool(infos[i].get("episode_limit", False)) for i in range(self.batch_size)])
            post = {
                "actions": full_actions[rows][..., None],
                "reward": rewards[rows][:, None],
                "terminated": (terminated & ~cut_by_limit)[rows][:, None],
                **{k: v.cpu() for k, v in extras.items()},
            }
            batch.update(post, bs=rows, ts=t, mark_filled=False)
            returns[rows] += rewards[rows]
            lengths[rows] += 1
            for i in np.flatnonzero(active & terminated):
                final_infos[i] = infos[i]
            t += 1
            if t >= batch.max_seq_length:
                raise RuntimeError(f"environment ran past its episode_limit={self.episode_limit}")
            batch.update({k: v[rows] for k, v in self._observation(slice(None)).items()}, bs=rows, ts=t)
            active &= ~terminated
        measured = self.mac.episode_stats()
        episodes = [{"return": returns[i], "ep_length": int(lengths[i]), **_numeric(final_infos[i]),
                     **{k: float(v[i]) for k, v in measured.items()}} for i in range(n_run)]
        return batch, episodes

    def _observation(self, rows: slice | np.ndarray) -> dict[str, np.ndarray]:
        return {"state": self.env.get_state()[rows], "avail_actions": self.env.get_avail_actions()[rows],
                "obs": self.env.get_obs()[rows]}

    def _restart_env(self, err: Exception) -> None:
        self.env_restarts += 1
        self.logger.console.warning(f"environment crashed ({type(err).__name__}: {err}); restarting it, episode discarded")
        self.logger.log_stat("env_restarts", self.env_restarts, self.t_env)
        try:
            self.env.close()
        except Exception:  # the crashed simulator may not close cleanly; the new one replaces it anyway
            pass
        self.env = self._make_vec_env(self._construction_seeds)

    # ------------------------------------------------------------------ stats
    def _account(self, batch: EpisodeBatch, episodes: list[dict], test_mode: bool) -> None:
        steps = sum(e["ep_length"] for e in episodes)
        if test_mode:
            self._test_episodes_done += len(episodes)
            self.test_stats.add(episodes)
            if self.test_stats.count >= self.args.test_nepisode:
                self.test_stats.log(self.logger, self.test_prefix, self.t_env)
            return
        self.t_env += steps
        self.episodes += len(episodes)
        self._steps_since_log += steps
        self.train_stats.add(episodes)

    def log_train_stats(self) -> None:
        elapsed = max(time.time() - self._time_since_log, 1e-9)
        self.logger.log_stat("env_steps_per_sec", self._steps_since_log / elapsed, self.t_env)
        self.train_stats.log(self.logger, "", self.t_env)
        self._steps_since_log, self._time_since_log = 0, time.time()

    def start_test(self) -> None:
        """Every evaluation replays the same fixed test seeds."""
        self._test_episodes_done = 0
        self.test_stats = EpisodeStats()

    def state_dict(self) -> dict:
        return {"t_env": self.t_env, "episodes": self.episodes, "env_restarts": self.env_restarts}

    def load_state_dict(self, state: dict) -> None:
        self.t_env, self.episodes, self.env_restarts = state["t_env"], state["episodes"], state["env_restarts"]

    def close(self) -> None:
        self.env.close()


def _numeric(info: dict) -> dict[str, float]:
    """Keeps the info entries that can be averaged (battle_won, dead_allies, ...)."""
    return {k: float(v) for k, v in info.items() if isinstance(v, (bool, int, float, np.number, np.bool_)) and k != "episode_limit"}

"""Reanalysis workers: Ray actors that each hold a copy of the target model and search the
positions they are sent, so that the searches run on other cores (or other machines) while the
learner trains.

Ray starts the actors as processes of their own (never a fork of the training process, which
has JAX's threads running), each with one torch thread. Without `address` a local Ray is started
for the run and shut down at its end; with `address` (e.g. `auto` after `ray start --head`, or
`ray://head:10001`) the actors go to that cluster, whose nodes must import the framework from
the same `src/` path. Every wait has a timeout: a dead or stuck worker stops the run with
`ReanalysisWorkerError` (the training loop then saves a checkpoint), never a hang."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import torch

from learners.reanalysis.policy_targets import PolicyTargets, SearchRequest, search_policy_targets
from modules.mazero.config import MAZeroModelConfig
from modules.mazero.model import MAZeroModel
from search import SampledMCTS, SearchConfig

SRC = Path(__file__).resolve().parents[2]


class ReanalysisWorkerError(RuntimeError):
    """A reanalysis worker died, failed or did not answer in time."""


class ReanalysisWorker:
    """The body of one Ray actor: a target-model copy and a search engine."""

    def __init__(self, model_config: MAZeroModelConfig, search_config: SearchConfig, threads: int = 1) -> None:
        torch.set_num_threads(threads)
        self.model = MAZeroModel(model_config).eval()
        self.search = SampledMCTS(search_config)
        self.model_update: int | None = None

    def ready(self) -> int:
        return os.getpid()

    def set_weights(self, model_update: int, state: dict) -> None:
        self.model.load_state_dict(state)
        self.model_update = model_update

    def search_targets(self, request: SearchRequest) -> tuple[PolicyTargets, float]:
        """(targets, seconds spent searching)."""
        if request.model_update != self.model_update:
            raise RuntimeError(f"asked for model update {request.model_update}, holding {self.model_update}")
        start = time.perf_counter()
        targets = search_policy_targets(self.search, self.model, request)
        return targets, time.perf_counter() - start


def init_ray(address: str | None, n_workers: int) -> bool:
    """Joins the Ray at `address`, or starts a local one with a CPU slot per worker (at least the
    machine's cores), whose processes import the framework from this checkout's src/. True when
    Ray was started (or joined) here, False when this process already had it."""
    import ray

    if ray.is_initialized():
        return False
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
           "JAX_PLATFORMS": "cpu"}
    local = {} if address else {"num_cpus": max(os.cpu_count() or 1, n_workers + 1)}
    if not address:  # Ray nices its workers (15) below the learner: beside another run they would starve
        os.environ.setdefault("RAY_worker_niceness", "0")
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    ray.init(address=address, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env}, **local)
    if threading.current_thread() is threading.main_thread():
        for sig, handler in handlers.items():  # Ray replaces them; the loop's own handlers save a checkpoint first
            if handler is not None:
                signal.signal(sig, handler)
    return True


class WorkerPool:
    """`n` Ray actors; requests are answered in the order they were sent to each actor."""

    def __init__(self, n: int, model_config: MAZeroModelConfig, search_config: SearchConfig,
                 address: str | None, timeout_s: float) -> None:
        import ray

        self.ray, self.timeout_s = ray, timeout_s
        self.started_ray = init_ray(address, n)
        actor = ray.remote(num_cpus=1, max_restarts=0)(ReanalysisWorker)
        self.actors = [actor.remote(model_config, search_config) for _ in range(n)]
        self.pids = self._get([a.ready.remote() for a in self.actors], "start")

    def __len__(self) -> int:
        return len(self.actors)

    def set_weights(self, model_update: int, state: dict) -> None:
        """Sent before any later request, so every actor searches with it from then on."""
        ref = self.ray.put({k: v.detach().cpu() for k, v in state.items()})
        for actor in self.actors:
            actor.set_weights.remote(model_update, ref)

    def submit(self, requests: list[SearchRequest]) -> list:
        """One request per actor (at most len(self) requests); returns handles for `gather`."""
        return [actor.search_targets.remote(r.to("cpu")) for actor, r in zip(self.actors, requests)]

    def gather(self, handles: list) -> list[tuple[PolicyTargets, float]]:
        return self._get(handles, "search")

    def _get(self, handles: list, what: str) -> list:
        try:
            return self.ray.get(handles, timeout=self.timeout_s)
        except self.ray.exceptions.GetTimeoutError as err:
            raise ReanalysisWorkerError(
                f"reanalysis workers did not {what} within reanalyse_timeout_s={self.timeout_s:g} s") from err
        except self.ray.exceptions.RayError as err:
            raise ReanalysisWorkerError(f"a reanalysis worker failed during {what}: {err}") from err

    def kill(self, index: int) -> None:
        """Ends one actor at once (what a crash looks like to the learner; for tests)."""
        self.ray.kill(self.actors[index], no_restart=True)

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        self.actors = []
        if self.started_ray:
            self.ray.shutdown()

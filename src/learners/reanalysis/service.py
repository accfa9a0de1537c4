"""Where the learner's policy targets come from: the cache when a recent enough search of the
position exists, otherwise one batched search of the missing positions, in this process or on
the reanalysis workers.

A request is answered in two steps so the searches can overlap the learner's work:
`request(...)` looks the positions up and starts searching the misses (on the workers it returns
at once), `resolve(ticket)` waits for them, stores them in the cache and returns the targets of
every position. Before a new request the ones in flight are finished, so their results are in
the cache when the new positions are looked up.

All search randomness comes from the reanalysis' own stream (seeded from the run's seed, apart
from the acting stream): each search draws its seed from it, and the search itself is a pure
function of (positions, model, seed), so the workers return exactly what this process would."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from config.mazero_schema import MAZeroConfig
from learners.reanalysis.cache import ReanalysisCache
from learners.reanalysis.policy_targets import PolicyTargets, SearchRequest, search_policy_targets
from learners.reanalysis.workers import ReanalysisWorkerError, WorkerPool
from modules.mazero.build import action_view, model_config, search_config
from search import SampledMCTS
from search.model_protocol import SearchModel

REANALYSIS_STREAM = 0x5EA  # spawn key of the reanalysis random stream next to the run's seed


def first_occurrences(keys: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(distinct keys in order of first appearance, each entry's row among them, the index of
    each distinct key's first appearance). Keeping the batch's order means a batch without
    repeats is searched exactly as the uncached learner searches it."""
    distinct, rows = torch.unique(keys, return_inverse=True)
    first = torch.full((len(distinct),), len(keys), dtype=torch.long).scatter_reduce_(
        0, rows, torch.arange(len(keys)), "amin")
    order = torch.argsort(first)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))
    return distinct[order], rank[rows], first[order]


def learner_share(positions: int, local_above: int | None) -> int:
    """How many of a group's positions the learner searches itself while the workers search the
    rest. `local_above` is how many positions a worker searches in the time the learner trains
    one group: below it the worker keeps up and takes them all; above it, half of the excess
    (rounded up) stays here, which evens out the two sides' work under a cost linear in the
    positions (late in a run, when the cache misses most, the worker would otherwise make the
    learner wait). None: the workers search everything."""
    if local_above is None:
        return 0
    return max(0, (positions - local_above + 1) // 2)


@dataclass
class Ticket:
    """The targets of P positions on their way: cached ones copied at request time, the others
    being searched (unique keys only) in this process or on the workers."""

    positions: int
    cached_index: Tensor                 # positions answered by the cache
    cached: PolicyTargets | None
    searched_index: Tensor               # positions answered by this ticket's searches
    searched_rows: Tensor                # for each of those, its row among the searched positions
    keys: Tensor | None                  # the searched positions' keys (None: nothing is cached)
    done: list[tuple[PolicyTargets, float]] = field(default_factory=list)  # in-process results
    handles: list = field(default_factory=list)                             # worker results
    needed: int = 0                      # positions that need a target (inside their episodes)
    wait_s: float = 0.0
    targets: PolicyTargets | None = None
    reported: bool = False               # its stats were counted (by the first batch that resolved it)


class Reanalysis:
    def __init__(self, args: MAZeroConfig, model: SearchModel, seed: int, capacity: int) -> None:
        self.args, self.model = args, model
        view = action_view(args)
        self.children, self.agents = args.num_sampled_actions, view.model_agents
        self.search = SampledMCTS(search_config(args, use_noise=args.reanalyse_noise, reanalysis=True))
        self.cache = (ReanalysisCache(capacity, self.children, self.agents, view.model_actions)
                      if args.reanalyse_cache else None)
        self.rng = np.random.default_rng([seed, REANALYSIS_STREAM])
        self.in_flight: list[Ticket] = []
        self.model_update = 0
        self.busy_s = 0.0          # worker seconds spent searching
        self.started = time.perf_counter()
        self.last: dict[str, float] = {}
        # since the run began; local_s: the learner's own share of the searches while workers run
        self.totals = {"positions": 0.0, "cached": 0.0, "searched": 0.0, "wait_s": 0.0, "local_s": 0.0}
        self.pool: WorkerPool | None = None  # started at the first search, so evaluation-only runs start no Ray

    # ------------------------------------------------------------------ model
    def refresh(self, model_update: int) -> None:
        """The search model's weights changed (a target copy at learner update `model_update`)."""
        self.model_update = model_update
        if self.pool is not None:
            self.pool.set_weights(model_update, self.model.state_dict())

    def _workers(self) -> WorkerPool | None:
        if self.pool is None and self.args.reanalyse_workers > 0:
            self.pool = WorkerPool(self.args.reanalyse_workers, model_config(self.args), self.search.config,
                                   self.args.reanalyse_ray_address, self.args.reanalyse_timeout_s)
            self.pool.set_weights(self.model_update, self.model.state_dict())
        return self.pool

    # --------------------------------------------------------------- requests
    def request(self, keys: Tensor, inputs: Tensor, avail: Tensor, mask: Tensor, updates_now: int) -> Ticket:
        """Targets for P positions: keys long [P] (transition ids; -1: no target needed, e.g. past
        the episode's end), inputs [P, N, D], avail [P, N, A], mask bool [P, N]."""
        self.drain()
        P, keys = len(keys), torch.as_tensor(keys, dtype=torch.long)
        needed = keys >= 0
        if self.cache is None:  # the uncached learner: every position searched at every update
            ticket = Ticket(P, torch.zeros(0, dtype=torch.long), None, torch.arange(P), torch.arange(P), None,
                            needed=int(needed.sum()))
            search_at = torch.arange(P)
        else:
            hit = self.cache.hits(keys, updates_now, self.args.reanalyse_max_age)
            missing = torch.nonzero(needed & ~hit).squeeze(-1)
            unique_keys, rows, first = first_occurrences(keys[missing])
            cached_index = torch.nonzero(hit).squeeze(-1)
            ticket = Ticket(P, cached_index, self.cache.get(keys[cached_index]), missing, rows, unique_keys,
                            needed=int(needed.sum()))
            search_at = missing[first]
        if len(search_at):
            self._dispatch(ticket, inputs[search_at], avail[search_at], mask[search_at])
        self.in_flight.append(ticket)
        return ticket

    def _dispatch(self, ticket: Ticket, inputs: Tensor, avail: Tensor, mask: Tensor) -> None:
        """Searches the ticket's positions: the first `local` of them here (all of them without
        workers), the rest split over the workers (sent first, so that both run at once). Each part
        draws its seed from the stream in that order, so the split, not which process searches a
        part, fixes the targets."""
        pool = self._workers()
        local = len(inputs) if pool is None else learner_share(len(inputs), self.args.reanalyse_local_above)
        remote = len(inputs) - local
        sizes = ([local] if local else []) + (
            [len(part) for part in torch.arange(remote).tensor_split(min(len(pool), remote))] if remote else [])
        requests = [SearchRequest(i, a, m, int(self.rng.integers(2**62)), self.model_update)
                    for i, a, m in zip(inputs.split(sizes), avail.split(sizes), mask.split(sizes))]
        here, there = requests[:1 if local else 0], requests[1 if local else 0:]
        if there:
            ticket.handles = pool.submit(there)
        for r in here:
            start = time.perf_counter()
            ticket.done.append((search_policy_targets(self.search, self.model, r), time.perf_counter() - start))
            if pool is not None:
                self.totals["local_s"] += ticket.done[-1][1]

    def resolve(self, ticket: Ticket) -> PolicyTargets:
        """Waits for the ticket's searches (if any are still running) and returns its P targets;
        a ticket shared by several batches is counted in the stats once."""
        self._finish(ticket)
        if ticket.reported:
            return ticket.targets
        ticket.reported = True
        searched = float(len(ticket.keys) if ticket.keys is not None else ticket.positions)
        self.last = {"hit_rate": len(ticket.cached_index) / max(ticket.needed, 1), "searched": searched,
                     "wait_s": ticket.wait_s}
        for key, value in (("positions", ticket.needed), ("cached", len(ticket.cached_index)),
                           ("searched", searched), ("wait_s", ticket.wait_s)):
            self.totals[key] += value
        return ticket.targets

    def drain(self) -> None:
        """Finishes every ticket in flight, so the cache holds their results."""
        while self.in_flight:
            self._finish(self.in_flight[0])

    def _finish(self, ticket: Ticket) -> None:
        if ticket.targets is not None:
            return
        if ticket in self.in_flight:
            self.in_flight.remove(ticket)
        if ticket.handles:
            start = time.perf_counter()
            remote = self.pool.gather(ticket.handles)
            ticket.wait_s = time.perf_counter() - start
            self.busy_s += sum(seconds for _, seconds in remote)
            ticket.done += remote  # after the learner's own part, which comes first in the positions
        targets = PolicyTargets.empty(ticket.positions, self.children, self.agents)
        if ticket.cached is not None and len(ticket.cached_index):
            targets.assign(ticket.cached_index, ticket.cached)
        if ticket.done:
            searched = PolicyTargets.concat([t.to("cpu") for t, _ in ticket.done])
            if self.cache is not None:
                self.cache.put(ticket.keys, searched)
            targets.assign(ticket.searched_index, searched.select(ticket.searched_rows))
        ticket.targets = targets

    # ------------------------------------------------------------ reporting
    def stats(self) -> dict[str, float]:
        """Of the last resolved ticket; running totals (their differences between two logged steps
        give a window's hit rate and searches); the workers' share of wall-clock spent searching."""
        out = {f"reanalyse_{k}": v for k, v in self.last.items()}
        out.update({f"reanalyse_{k}_total": v for k, v in self.totals.items()})
        if self.pool is not None:
            out["reanalyse_worker_utilisation"] = self.busy_s / (len(self.pool) * (time.perf_counter() - self.started))
        return out

    # ----------------------------------------------------------- checkpoints
    def state_dict(self, with_cache: bool) -> dict:
        """Searches still in flight are finished first (dropped if a worker is gone: their
        positions are simply searched again after a resume)."""
        try:
            self.drain()
        except ReanalysisWorkerError:
            self.in_flight.clear()
        return {"model_update": self.model_update, "rng": self.rng.bit_generator.state, "totals": dict(self.totals),
                "cache": self.cache.state_dict() if (with_cache and self.cache is not None) else None}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.totals = {**self.totals, **state.get("totals", {})}  # a key added since the checkpoint starts at 0
        if self.cache is not None:
            self.cache.clear()
            if state.get("cache") is not None:
                self.cache.load_state_dict(state["cache"])
        self.refresh(state["model_update"])

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

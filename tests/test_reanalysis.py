"""Reanalysis: the per-transition cache and its invalidation, exactness against the uncached
learner, and the Ray workers (same targets as in process, a dead worker stops the run cleanly)."""
import time

import numpy as np
import pytest
import torch

from components.transition_replay import PrioritizedTransitionReplay, transition_capacity
from controllers.mazero_controller import MAZeroMAC
from learners.mazero_learner import MAZeroLearner
from learners.reanalysis import PolicyTargets, Reanalysis, ReanalysisCache, ReanalysisWorkerError
from learners.reanalysis.service import first_occurrences, learner_share
from utils.logging import Logger, get_console_logger

from test_mazero_learner import config, episode_batch

K = 3  # unroll steps of test_mazero_learner.config


def make_learner(**overrides) -> tuple[MAZeroLearner, PrioritizedTransitionReplay]:
    torch.manual_seed(0)
    args = config(**overrides)
    batch, scheme, groups, preprocess = episode_batch([12, 12, 12])
    mac = MAZeroMAC(scheme, groups, args)
    learner = MAZeroLearner(mac, scheme, Logger(get_console_logger("test")), args)
    replay = PrioritizedTransitionReplay(scheme, groups, args, preprocess)
    replay.insert_episode_batch(batch)
    return learner, replay


def windows(replay, rows, starts):
    """The replay's windows at chosen (episode row, start) pairs, all weights 1."""
    rows, starts = np.asarray(rows), np.asarray(starts)
    ids = replay.first_ids[rows] + starts
    return replay._windows(rows, starts, ids, np.ones(len(rows)))


def disjoint_batches():
    """Three batches of windows that lie inside their episodes and share no position: every
    position is searched once, so the cache can only ever miss."""
    starts = [0, 4, 8]
    return [[(row, start) for row in range(3)] for start in starts]


def targets_of(learner, batch) -> PolicyTargets:
    ticket, (rows,) = learner._request_targets([batch])
    return learner.reanalysis.resolve(ticket).select(rows)


def same_targets(a: PolicyTargets, b: PolicyTargets) -> None:
    for name in ("joint_actions", "omega", "valid", "advantages", "root_value", "root_pred_value", "model_update"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


# ------------------------------------------------------------------------- the cache
def test_cache_hits_only_its_own_key_while_the_model_is_recent():
    cache = ReanalysisCache(capacity=10, children=2, agents=3, n_actions=6)
    targets = PolicyTargets.empty(2, 2, 3)
    targets.valid[:] = True
    targets.joint_actions[0, 1] = torch.tensor([1, 2, 5])
    targets.model_update[:] = 200
    cache.put(torch.tensor([3, 7]), targets)
    assert cache.hits(torch.tensor([3, 7, 13, 4, -1]), updates_now=600, max_age=400).tolist() == \
        [True, True, False, False, False]  # 13 shares slot 3 with id 3: a different key misses
    assert not cache.hits(torch.tensor([3]), updates_now=601, max_age=400).any()  # 401 updates old
    got = cache.get(torch.tensor([3]))
    assert got.joint_actions.dtype == torch.long and got.joint_actions[0, 1].tolist() == [1, 2, 5]
    assert cache.bytes_per_entry(10, 3, 8) == 8 + 10 * 3 * 2 + 10 * 9 + 16
    assert cache.nbytes == 10 * cache.bytes_per_entry(2, 3, 6)


def test_first_occurrences_keep_the_batch_order():
    keys, rows, first = first_occurrences(torch.tensor([9, 4, 9, 7, 4]))
    assert keys.tolist() == [9, 4, 7] and rows.tolist() == [0, 1, 0, 2, 1] and first.tolist() == [0, 1, 3]


# ---------------------------------------------------------- exactness in the learner
def test_cached_learner_trains_exactly_as_the_uncached_one_when_nothing_repeats():
    """Same weights, same reanalysis stream, positions sampled once: identical targets, losses, weights."""
    cached, replay = make_learner(target_update_interval=100)
    uncached, _ = make_learner(target_update_interval=100, reanalyse_cache=False)
    for rows_starts in disjoint_batches():
        rows, starts = zip(*rows_starts)
        torch.manual_seed(1)  # the unroll's dropout draws from the global stream
        a = cached.train(windows(replay, rows, starts), 100, 3)
        torch.manual_seed(1)
        b = uncached.train(windows(replay, rows, starts), 100, 3)
        assert a.stats["reanalyse_hit_rate"] == 0.0 and a.stats["loss"] == b.stats["loss"]
    for p, q in zip(cached.model.parameters(), uncached.model.parameters()):
        assert torch.equal(p, q)


def test_a_repeated_position_is_served_from_the_cache_without_a_search():
    learner, replay = make_learner(target_update_interval=100)
    first = targets_of(learner, windows(replay, [0, 1], [0, 2]))
    assert learner.reanalysis.last["searched"] == 8  # 2 windows x (K+1) positions, none repeated
    # window (1, 4) overlaps (1, 2) at positions 4 and 5; repeats inside one batch are searched once
    again = targets_of(learner, windows(replay, [0, 1, 1], [0, 4, 4]))
    assert learner.reanalysis.last["searched"] == 2  # positions 6 and 7 of episode 1
    assert learner.reanalysis.last["hit_rate"] == pytest.approx(8 / 12)  # all but the two copies of 6, 7
    assert learner.reanalysis.totals == {"positions": 20, "cached": 8, "searched": 10, "wait_s": 0.0, "local_s": 0.0}
    same_targets(first.select(torch.arange(4)), again.select(torch.arange(4)))
    same_targets(first.select(torch.tensor([6, 7])), again.select(torch.tensor([4, 5])))
    same_targets(again.select(torch.arange(4, 8)), again.select(torch.arange(8, 12)))


def test_positions_past_the_episode_end_are_not_searched_with_the_cache():
    learner, replay = make_learner()
    targets = targets_of(learner, windows(replay, [0], [10]))  # positions 10, 11 inside; 12, 13 past the end
    assert learner.reanalysis.last["searched"] == 2
    assert targets.valid[:2].any(-1).all() and not targets.valid[2:].any()


def test_a_target_refresh_invalidates_entries_older_than_the_bound():
    learner, replay = make_learner(target_update_interval=3, reanalyse_max_age=2)
    batch = [(0, 0), (1, 0)]
    for _ in range(2):
        learner.train(windows(replay, *zip(*batch)), 100, 3)
    assert learner.reanalysis.last["hit_rate"] == 1.0  # second update: all cached
    learner.train(windows(replay, *zip(*batch)), 100, 3)  # update 3: the target model is copied
    assert learner.reanalysis.model_update == 3
    out = learner.train(windows(replay, *zip(*batch)), 100, 3)
    assert out.stats["reanalyse_hit_rate"] == 0.0 and out.stats["reanalyse_target_age"] == 0.0


def test_a_stale_bound_above_the_interval_keeps_entries_across_one_refresh():
    learner, replay = make_learner(target_update_interval=3, reanalyse_max_age=4)
    batch = windows(replay, [0], [0])
    for _ in range(4):  # searched at update 0, refreshed at update 3
        learner.train(batch, 100, 3)
    assert learner.reanalysis.last["hit_rate"] == 1.0
    out = learner.train(batch, 100, 3)  # update 4: the update-0 targets are 4 updates old
    assert out.stats["reanalyse_hit_rate"] == 1.0 and out.stats["reanalyse_target_age"] == 4.0
    out = learner.train(batch, 100, 3)  # update 5: 5 > 4, searched again with the update-3 model
    assert out.stats["reanalyse_hit_rate"] == 0.0 and out.stats["reanalyse_target_age"] == 2.0


def test_an_evicted_episode_leaves_no_usable_entry():
    """buffer_size=3 episodes of 12: new episodes take the evicted ids' cache slots and must miss."""
    learner, replay = make_learner(buffer_size=3)
    assert learner.reanalysis.cache.capacity == transition_capacity(learner.args) == 36
    targets_of(learner, windows(replay, [0, 1, 2], [0, 0, 0]))
    new, *_ = episode_batch([12], offset=1000.0)
    replay.insert_episode_batch(new)  # evicts episode 0: its ids 0..11, slots 0..11 now belong to ids 36..47
    assert replay.first_ids[0] == 36
    targets_of(learner, windows(replay, [0, 1], [0, 0]))
    assert learner.reanalysis.last["hit_rate"] == pytest.approx(0.5)  # the new episode misses, episode 1 hits


def test_cache_round_trips_through_the_learner_state_only_with_the_replay():
    learner, replay = make_learner(save_replay_buffer=True)
    first = targets_of(learner, windows(replay, [0, 1], [0, 4]))
    clone, _ = make_learner(save_replay_buffer=True)
    clone.load_state_dict(learner.state_dict())
    same_targets(first, targets_of(clone, windows(replay, [0, 1], [0, 4])))
    assert clone.reanalysis.last["hit_rate"] == 1.0
    fresh, _ = make_learner(save_replay_buffer=False)
    fresh.load_state_dict(learner.state_dict() | {"reanalysis": learner.reanalysis.state_dict(with_cache=False)})
    targets_of(fresh, windows(replay, [0, 1], [0, 4]))
    assert fresh.reanalysis.last["hit_rate"] == 0.0


def test_reanalysis_has_its_own_random_stream():
    """Acting draws do not change the reanalysis targets (they shared one generator before)."""
    a, replay = make_learner(reanalyse_cache=False)
    b, _ = make_learner(reanalyse_cache=False)
    torch.rand(100, generator=b.mac.generator)
    same_targets(targets_of(a, windows(replay, [0], [0])), targets_of(b, windows(replay, [0], [0])))


@pytest.mark.parametrize("reanalyse_sims, expected", [(None, 6), (7, 7)])
def test_reanalysis_searches_with_its_own_simulation_count(reanalyse_sims, expected):
    """omega is N(a) / N: each target's visit counts sum to the reanalysis count, while acting keeps num_simulations."""
    learner, replay = make_learner(num_simulations=6, reanalyse_num_simulations=reanalyse_sims)
    assert learner.mac.search.config.num_simulations == 6
    targets = targets_of(learner, windows(replay, [0, 1], [0, 2]))
    counts = targets.omega * expected
    assert torch.allclose(counts, counts.round(), atol=1e-4)
    assert torch.equal(counts.round().sum(-1), torch.full((len(counts),), float(expected)))


# ------------------------------------------------------------------- Ray workers
@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    from learners.reanalysis.workers import init_ray

    started = init_ray(None, 2)
    yield ray
    if started:
        ray.shutdown()


def test_worker_targets_equal_in_process_targets(ray_session):
    local, replay = make_learner()
    remote, _ = make_learner(reanalyse_workers=1, reanalyse_lookahead=1)
    try:
        assert remote.reanalysis.pool is None  # started by the first search
        for rows, starts in ([0, 1, 2], [0, 3, 6]), ([2, 0], [5, 9]):
            same_targets(targets_of(local, windows(replay, rows, starts)),
                         targets_of(remote, windows(replay, rows, starts)))
        assert len(remote.reanalysis.pool) == 1
        import psutil
        assert psutil.Process(remote.reanalysis.pool.pids[0]).nice() == psutil.Process().nice()  # not starved
    finally:
        remote.close()


def prepared_training(learner, replay, groups: list[list[list[tuple[int, int]]]]):
    """What the loop does with lookahead: each group is shown (`prepare`) before the previous
    group trains; returns every update's loss."""
    samples = [[windows(replay, *zip(*b)) for b in group] for group in groups]
    learner.prepare(samples[0])
    losses = []
    for g, group in enumerate(samples):
        if g + 1 < len(samples):
            learner.prepare(samples[g + 1])
        for i, sample in enumerate(group):
            torch.manual_seed(10 * g + i)  # the unroll's dropout draws from the global stream
            losses.append(learner.train(sample, 100, 3).stats["loss"])
    return losses, learner.train(windows(replay, [0], [0]), 100, 3)


GROUPS = [[[(0, 0), (1, 2)], [(1, 4), (2, 0)]], [[(0, 1), (2, 3)], [(0, 0), (2, 8)]]]


def test_learner_with_a_worker_and_lookahead_trains_exactly_as_in_process(ray_session):
    """Batches shown in groups ahead of training: one search per group, on the worker or in
    process, gives the same targets and so the same losses and weights."""
    local, replay = make_learner(target_update_interval=100, reanalyse_lookahead=2)
    remote, _ = make_learner(target_update_interval=100, reanalyse_workers=1, reanalyse_lookahead=2)
    try:
        local_losses, _ = prepared_training(local, replay, GROUPS)
        remote_losses, last = prepared_training(remote, replay, GROUPS)
        assert local_losses == remote_losses
        assert 0.0 < last.stats["reanalyse_worker_utilisation"] <= 1.0
        for p, q in zip(local.model.parameters(), remote.model.parameters()):
            assert torch.equal(p, q)
    finally:
        remote.close()


def test_a_group_is_searched_once_and_counted_once():
    """A group's positions go to one search (positions repeated across its batches once); each of
    its batches trains on its own rows of the group's targets."""
    learner, replay = make_learner(target_update_interval=100, reanalyse_lookahead=2)
    batches = [windows(replay, [0, 1], [0, 2]), windows(replay, [0, 2], [0, 4])]  # share (0, 0)'s K+1 positions
    learner.prepare(batches)
    (ticket,) = {id(t): t for _, t, _ in learner.prepared.values()}.values()
    assert len(ticket.keys) == 3 * (K + 1)  # 4 windows, one repeated
    searched_before = learner.reanalysis.totals["searched"]
    learner.train(batches[0], 100, 3)
    learner.train(batches[1], 100, 3)
    assert not learner.prepared
    assert learner.reanalysis.totals["searched"] - searched_before == 3 * (K + 1)
    first, repeated = ticket.targets.select(slice(0, K + 1)), ticket.targets.select(slice(2 * (K + 1), 3 * (K + 1)))
    same_targets(first, repeated)  # the repeated window's rows come from the same searches
    assert first.valid.any(dim=-1).all()


def test_a_dead_worker_stops_with_a_clear_error_and_the_state_still_saves(ray_session):
    learner, replay = make_learner(reanalyse_workers=1, reanalyse_lookahead=1, reanalyse_timeout_s=300)  # a slow start under load is no failure
    try:
        learner.train(windows(replay, [0], [0]), 100, 3)
        learner.reanalysis.pool.kill(0)
        start = time.time()
        with pytest.raises(ReanalysisWorkerError, match="reanalysis worker"):
            learner.train(windows(replay, [1], [0]), 100, 3)
        assert time.time() - start < 30
        state = learner.state_dict()  # what the loop's crash checkpoint calls
        assert state["updates"] == 1
    finally:
        learner.close()


def test_learner_share_evens_out_a_linear_cost_against_brute_force():
    """With a worker that searches `above` positions while the learner trains a group, the share
    the learner keeps minimises the slower side's work (learner: above + its share; worker: the
    rest), over every split; at or below `above` the worker takes everything."""
    for above in range(0, 12):
        for n in range(0, 40):
            share = learner_share(n, above)
            best = min(max(above + k, n - k) for k in range(n + 1))
            assert 0 <= share <= n and max(above + share, n - share) == best, (n, above)
            if n <= above:
                assert share == 0
    assert learner_share(100, None) == 0


def test_learner_share_with_a_worker_trains_exactly_as_two_workers(ray_session):
    """The learner searching half of each group (`reanalyse_local_above=0`: ceil(P/2) positions)
    beside one worker gives the targets of two workers splitting the group the same way: each
    part's search is a pure function of its positions, model and seed, whoever runs it."""
    shared, replay = make_learner(target_update_interval=100, reanalyse_workers=1, reanalyse_lookahead=2,
                                  reanalyse_local_above=0)
    two, _ = make_learner(target_update_interval=100, reanalyse_workers=2, reanalyse_lookahead=2)
    try:
        shared_losses, last = prepared_training(shared, replay, GROUPS)
        two_losses, _ = prepared_training(two, replay, GROUPS)
        assert shared_losses == two_losses
        for p, q in zip(shared.model.parameters(), two.model.parameters()):
            assert torch.equal(p, q)
        assert last.stats["reanalyse_local_s_total"] > 0.0
        assert shared.reanalysis.totals["searched"] == two.reanalysis.totals["searched"]
    finally:
        shared.close()
        two.close()


def test_without_workers_the_learner_searches_everything_whatever_its_share():
    """`reanalyse_workers=0` alone turns the workers off under a config that sets a share: the
    targets are the in-process ones (one search per group, as without the key)."""
    plain, replay = make_learner()
    shared, _ = make_learner(reanalyse_local_above=0)
    for rows, starts in ([0, 1, 2], [0, 3, 6]), ([2, 0], [5, 9]):
        same_targets(targets_of(plain, windows(replay, rows, starts)), targets_of(shared, windows(replay, rows, starts)))
    assert shared.reanalysis.pool is None and shared.reanalysis.totals["local_s"] == 0.0


def test_workers_without_lookahead_are_refused():
    with pytest.raises(ValueError, match="reanalyse_lookahead >= 1"):
        make_learner(reanalyse_workers=1, reanalyse_lookahead=0)

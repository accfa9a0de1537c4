"""Prioritised sampler against a brute-force model of the live priorities."""
import numpy as np
import pytest

from components.prioritized_sampler import PrioritizedSampler, SumTree
from components.schedules import LinearDecayThenFlat


class BruteForce:
    """Dict of live id -> raw priority, with the same eviction rule; the specification."""

    def __init__(self, capacity: int, alpha: float) -> None:
        self.capacity, self.alpha, self.live, self.next_id = capacity, alpha, {}, 0

    def add(self, priorities):
        for p in priorities:
            if len(self.live) == self.capacity:
                del self.live[min(self.live)]
            self.live[self.next_id] = p
            self.next_id += 1

    def probabilities(self):
        ids = np.array(sorted(self.live))
        scaled = np.array([self.live[i] for i in ids]) ** self.alpha
        return ids, scaled / scaled.sum()


def test_probabilities_and_weights_match_the_formulas():
    sampler = PrioritizedSampler(capacity=8, alpha=0.6)
    priorities = np.array([0.5, 1.0, 2.0, 4.0, 0.1])
    ids = sampler.add(5, priorities)
    assert ids.tolist() == [0, 1, 2, 3, 4]
    expected = priorities**0.6 / (priorities**0.6).sum()
    assert np.allclose(sampler.probabilities(ids), expected)
    batch = sampler.sample(64, beta=0.4, rng=np.random.default_rng(0))
    raw = (5 * expected[batch.ids]) ** -0.4
    assert np.allclose(batch.weights, raw / raw.max(), rtol=1e-6)
    assert np.allclose(batch.probabilities, expected[batch.ids])
    assert batch.weights.max() == pytest.approx(1.0) and batch.weights.dtype == np.float32


def test_new_items_get_the_current_max_priority():
    sampler = PrioritizedSampler(capacity=4)
    first = sampler.add(2)
    assert sampler.priorities(first).tolist() == [1.0, 1.0]  # empty sampler: default priority
    sampler.update_priorities(first, np.array([3.0, 0.2]))
    second = sampler.add(1)
    assert sampler.priorities(second).tolist() == [3.0]
    sampler.update_priorities(np.concatenate([first, second]), np.array([0.3, 0.2, 0.7]))
    assert sampler.priorities(sampler.add(1)).tolist() == [0.7]


def test_priority_updates_skip_evicted_ids_and_keep_the_last_duplicate():
    sampler = PrioritizedSampler(capacity=3)
    sampler.add(3)
    sampler.update_priorities(np.array([1, 2, 1]), np.array([5.0, 2.0, 7.0]))
    assert sampler.priorities(np.array([0, 1, 2])).tolist() == [1.0, 7.0, 2.0]
    sampler.add(1)  # evicts id 0, reuses its slot for id 3
    sampler.update_priorities(np.array([0]), np.array([100.0]))  # stale: ignored
    assert sampler.priorities(np.array([3])).tolist() == [7.0]


def test_eviction_of_the_oldest_beyond_capacity():
    sampler = PrioritizedSampler(capacity=5)
    sampler.add(3, np.array([1.0, 2.0, 3.0]))
    ids = sampler.add(4, np.array([4.0, 5.0, 6.0, 7.0]))
    assert ids.tolist() == [3, 4, 5, 6]
    assert (sampler.oldest_id, sampler.next_id, len(sampler)) == (2, 7, 5)
    assert sampler.is_live(np.arange(8)).tolist() == [False, False, True, True, True, True, True, False]
    drawn = sampler.sample(2_000, beta=1.0, rng=np.random.default_rng(1)).ids
    assert set(drawn.tolist()) == {2, 3, 4, 5, 6}
    evicted = sampler.evict_oldest(2)
    assert evicted.tolist() == [2, 3] and len(sampler) == 3
    scaled = np.array([5.0, 6.0, 7.0]) ** 0.6
    assert np.allclose(sampler.probabilities(np.array([4, 5, 6])), scaled / scaled.sum())


def test_random_operations_match_brute_force():
    rng = np.random.default_rng(2)
    sampler, model = PrioritizedSampler(capacity=13, alpha=0.7), BruteForce(13, 0.7)
    for _ in range(300):
        if rng.random() < 0.4 or len(sampler) == 0:
            count = int(rng.integers(1, 6))
            priorities = rng.random(count) + 0.01
            sampler.add(count, priorities)
            model.add(priorities)
        else:
            ids = sampler.sample(int(rng.integers(1, 8)), beta=0.5, rng=rng).ids
            new = rng.random(len(ids)) * 3 + 0.01
            sampler.update_priorities(ids, new)
            for i, p in zip(ids, new):
                model.live[int(i)] = p
        live_ids, expected = model.probabilities()
        assert np.arange(sampler.oldest_id, sampler.next_id).tolist() == live_ids.tolist()
        assert np.allclose(sampler.probabilities(live_ids), expected)
        assert sampler.max_priority() == pytest.approx(max(model.live.values()))


def test_sampling_frequencies_follow_p_alpha():
    """Chi-square goodness of fit of 200k draws against P(i) (df = 9; 99.99% quantile ~ 33.7)."""
    sampler = PrioritizedSampler(capacity=16, alpha=0.6)
    sampler.add(4)
    sampler.evict_oldest(4)  # offset ids from slots to exercise the slot -> id mapping
    priorities = np.array([0.1, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 0.05, 2.5])
    ids = sampler.add(10, priorities)
    expected = priorities**0.6 / (priorities**0.6).sum()
    draws = np.concatenate([sampler.sample(1_000, 0.4, np.random.default_rng(seed)).ids for seed in range(200)])
    counts = np.array([(draws == i).sum() for i in ids])
    assert counts.sum() == len(draws)
    chi_square = (((counts - len(draws) * expected) ** 2) / (len(draws) * expected)).sum()
    assert chi_square < 33.7


def test_beta_anneals_with_the_shared_linear_schedule():
    beta = LinearDecayThenFlat(start=0.4, finish=1.0, duration=100)
    assert [beta(step) for step in (0, 50, 100, 1_000)] == pytest.approx([0.4, 0.7, 1.0, 1.0])


def test_invalid_inputs_raise():
    sampler = PrioritizedSampler(capacity=3)
    with pytest.raises(ValueError):
        sampler.sample(1, 0.4, np.random.default_rng(0))
    with pytest.raises(ValueError):
        sampler.add(4)
    ids = sampler.add(2)
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError):
            sampler.update_priorities(ids[:1], np.array([bad]))
    with pytest.raises(ValueError):
        sampler.update_priorities(ids, np.array([1.0]))


def test_state_dict_round_trip():
    sampler = PrioritizedSampler(capacity=6)
    sampler.add(8 - 2, np.arange(1.0, 7.0))
    sampler.add(2, np.array([9.0, 0.5]))
    copy = PrioritizedSampler(capacity=6)
    copy.load_state_dict(sampler.state_dict())
    live = np.arange(sampler.oldest_id, sampler.next_id)
    assert np.allclose(copy.probabilities(live), sampler.probabilities(live))
    assert copy.sample(5, 0.4, np.random.default_rng(3)).ids.tolist() == \
        sampler.sample(5, 0.4, np.random.default_rng(3)).ids.tolist()


@pytest.mark.parametrize("capacity", [1, 2, 5, 8, 9])
def test_sum_tree_prefix_search_by_brute_force(capacity):
    rng = np.random.default_rng(capacity)
    tree = SumTree(capacity)
    values = rng.random(capacity) * (rng.random(capacity) < 0.7)
    values[0] += 0.1
    tree.update(np.arange(capacity), values)
    assert tree.total == pytest.approx(values.sum())
    prefix = rng.random(500) * values.sum()
    expected = np.searchsorted(np.cumsum(values), prefix, side="right")
    found = tree.find(prefix)
    assert np.array_equal(found, expected)
    assert bool((values[found] > 0).all())


def test_sampling_is_fast_enough_at_scale():
    sampler = PrioritizedSampler(capacity=200_000)
    rng = np.random.default_rng(4)
    for _ in range(20):
        sampler.add(12_000, rng.random(12_000) + 0.01)  # wraps around the ring
    batch = sampler.sample(256, 0.4, rng)
    assert bool(sampler.is_live(batch.ids).all())
    sampler.update_priorities(batch.ids, rng.random(256) + 0.01)

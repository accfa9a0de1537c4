"""Prioritised sampling over transition ids (Schaul et al. 2016; MAZero Table 1: exponent 0.6,
importance correction 0.4 -> 1).

    P(i) = p_i^alpha / sum_j p_j^alpha,    w_i = (N P(i))^-beta / max_batch w

Ids are consecutive integers handed out by `add`; id i lives in slot i % capacity of a sum-tree.
The capacity is bounded: adding past it evicts the oldest ids (the reference never evicts). The
live ids are always the contiguous range [oldest_id, next_id), so a replay that maps ids to
episodes can drop every episode whose last id is below `oldest_id`, or call `evict_oldest` itself
to evict whole episodes before adding. Draws are i.i.d. with replacement (exact P(i) per draw).
Anneal beta with `components.schedules.LinearDecayThenFlat(0.4, 1.0, steps)`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from utils.divergence import DivergenceError

DEFAULT_PRIORITY = 1.0


class NonFinitePriorityError(DivergenceError, ValueError):
    """A NaN or infinite priority: the learner's value predictions diverged, not a caller's mistake
    (still a `ValueError`, like every other invalid priority)."""


class SumTree:
    """Binary sum-tree over `capacity` non-negative leaves: vectorised updates and prefix search."""

    def __init__(self, capacity: int) -> None:
        self.depth = int(capacity - 1).bit_length()
        self.leaves = 1 << self.depth
        self.nodes = np.zeros(2 * self.leaves, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    def values(self, slots: np.ndarray) -> np.ndarray:
        return self.nodes[np.asarray(slots) + self.leaves]

    def update(self, slots: np.ndarray, values: np.ndarray) -> None:
        """Sets leaves (the last write wins for repeated slots) and refreshes their ancestors."""
        index = np.asarray(slots, dtype=np.int64) + self.leaves
        self.nodes[index] = values
        for _ in range(self.depth):
            index = np.unique(index >> 1)
            self.nodes[index] = self.nodes[2 * index] + self.nodes[2 * index + 1]

    def find(self, prefix_sums: np.ndarray) -> np.ndarray:
        """Slots whose cumulative interval contains each prefix sum; never a zero leaf when the
        total is positive (float round-off steers towards the non-empty side)."""
        index = np.ones(len(prefix_sums), dtype=np.int64)
        remaining = np.asarray(prefix_sums, dtype=np.float64).copy()
        for _ in range(self.depth):
            left = self.nodes[2 * index]
            right = self.nodes[2 * index + 1]
            go_right = ((remaining >= left) & (right > 0)) | (left <= 0)
            remaining = np.where(go_right, remaining - left, remaining)
            index = 2 * index + go_right
        return index - self.leaves


@dataclass(frozen=True)
class PrioritizedSample:
    ids: np.ndarray            # int64 [B] transition ids
    weights: np.ndarray        # float32 [B] importance weights, max 1
    probabilities: np.ndarray  # float64 [B] P(i) of each drawn id


class PrioritizedSampler:
    """Capacity-bounded prioritised sampler over transition ids (pure numpy)."""

    def __init__(self, capacity: int, alpha: float = 0.6) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.alpha = alpha
        self.tree = SumTree(capacity)
        self.priority = np.zeros(capacity, dtype=np.float64)  # raw p_i per slot, 0 = empty
        self.oldest_id = 0
        self.next_id = 0

    def __len__(self) -> int:
        return self.next_id - self.oldest_id

    def max_priority(self) -> float:
        """Largest live priority, DEFAULT_PRIORITY when empty: what new items receive."""
        return float(self.priority.max()) if len(self) else DEFAULT_PRIORITY

    def is_live(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        return (ids >= self.oldest_id) & (ids < self.next_id)

    def add(self, count: int, priorities: np.ndarray | None = None) -> np.ndarray:
        """Registers `count` new transitions at the current max priority (or at `priorities`),
        evicting the oldest ones beyond capacity; returns their ids int64 [count]."""
        if count > self.capacity:
            raise ValueError(f"cannot add {count} items to a sampler of capacity {self.capacity}")
        if priorities is None:
            values = np.full(count, self.max_priority())
        else:
            values = self._checked(priorities, count)
        overflow = len(self) + count - self.capacity
        if overflow > 0:
            self.evict_oldest(overflow)
        ids = np.arange(self.next_id, self.next_id + count, dtype=np.int64)
        self.next_id += count
        self._write(ids, values)
        return ids

    def evict_oldest(self, count: int) -> np.ndarray:
        """Removes the `count` oldest live ids (so they are never sampled again); returns them."""
        count = min(count, len(self))
        ids = np.arange(self.oldest_id, self.oldest_id + count, dtype=np.int64)
        slots = ids % self.capacity
        self.priority[slots] = 0.0
        self.tree.update(slots, np.zeros(count))
        self.oldest_id += count
        return ids

    def update_priorities(self, ids: np.ndarray, priorities: np.ndarray) -> None:
        """Sets new priorities (> 0, finite); ids evicted since they were sampled are skipped."""
        ids = np.asarray(ids, dtype=np.int64)
        values = self._checked(priorities, len(ids))
        _, reversed_first = np.unique(ids[::-1], return_index=True)
        last_write = len(ids) - 1 - reversed_first  # a repeated id keeps its last priority
        keep = last_write[self.is_live(ids[last_write])]
        self._write(ids[keep], values[keep])

    def priorities(self, ids: np.ndarray) -> np.ndarray:
        """Raw priorities p_i of live ids."""
        return self.priority[np.asarray(ids, dtype=np.int64) % self.capacity]

    def probabilities(self, ids: np.ndarray) -> np.ndarray:
        """P(i) = p_i^alpha / sum_j p_j^alpha of live ids."""
        return self.tree.values(np.asarray(ids, dtype=np.int64) % self.capacity) / self.tree.total

    def sample(self, batch_size: int, beta: float, rng: np.random.Generator) -> PrioritizedSample:
        """Draws `batch_size` ids i.i.d. from P, with importance weights normalised by the batch
        maximum (as in the reference and EfficientZero)."""
        if len(self) == 0:
            raise ValueError("cannot sample from an empty sampler")
        total = self.tree.total
        slots = self.tree.find(rng.random(batch_size) * total)
        ids = self._slot_to_id(slots)
        probabilities = self.tree.values(slots) / total
        weights = (len(self) * probabilities) ** (-beta)
        return PrioritizedSample(ids=ids, weights=(weights / weights.max()).astype(np.float32),
                                 probabilities=probabilities)

    def state_dict(self) -> dict:
        return {"capacity": self.capacity, "alpha": self.alpha, "priority": self.priority.copy(),
                "oldest_id": self.oldest_id, "next_id": self.next_id}

    def load_state_dict(self, state: dict) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError("capacity mismatch")
        self.alpha = float(state["alpha"])
        self.priority = np.asarray(state["priority"], dtype=np.float64).copy()
        self.oldest_id, self.next_id = int(state["oldest_id"]), int(state["next_id"])
        self.tree = SumTree(self.capacity)
        self.tree.update(np.arange(self.capacity), self.priority ** self.alpha)

    def _write(self, ids: np.ndarray, values: np.ndarray) -> None:
        slots = ids % self.capacity
        self.priority[slots] = values
        self.tree.update(slots, values ** self.alpha)

    def _slot_to_id(self, slots: np.ndarray) -> np.ndarray:
        """The live id stored in each slot: the unique id in [oldest, next) congruent to it."""
        offset = (slots - self.oldest_id) % self.capacity
        return (self.oldest_id + offset).astype(np.int64)

    @staticmethod
    def _checked(priorities: np.ndarray, count: int) -> np.ndarray:
        values = np.asarray(priorities, dtype=np.float64).reshape(-1)
        if values.shape != (count,):
            raise ValueError(f"expected {count} priorities, got {values.shape}")
        finite = np.isfinite(values)
        if not finite.all():
            bad = values[~finite]
            raise NonFinitePriorityError(f"priority={bad[0]} for {len(bad)} of {count} transitions")
        if np.any(values <= 0):
            raise ValueError("priorities must be positive")
        return values

"""Reanalysed policy targets kept per transition id, so a position is searched at most once per
model rather than once per draw.

Direct-mapped like the prioritised sampler: transition id i lives in slot i % capacity, and the
slot remembers which id it holds. With the replay's transition capacity the live ids never
share a slot, and an evicted id can never hit again: the next id in its slot is a different key.
An entry also records the learner update at which its search model was copied; `hits` accepts it
only while that model is at most `max_age` updates old at lookup time."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from learners.reanalysis.policy_targets import PolicyTargets


class ReanalysisCache:
    def __init__(self, capacity: int, children: int, agents: int, n_actions: int) -> None:
        if capacity < 1:
            raise ValueError("the reanalysis cache needs a positive capacity")
        self.capacity = capacity
        action_dtype = torch.int16 if n_actions <= torch.iinfo(torch.int16).max else torch.int32
        self.keys = torch.full((capacity,), -1, dtype=torch.long)
        self.store = PolicyTargets(
            joint_actions=torch.zeros(capacity, children, agents, dtype=action_dtype),
            omega=torch.zeros(capacity, children),
            valid=torch.zeros(capacity, children, dtype=torch.bool),
            advantages=torch.zeros(capacity, children),
            root_value=torch.zeros(capacity),
            root_pred_value=torch.zeros(capacity),
            model_update=torch.zeros(capacity, dtype=torch.long),
        )

    @staticmethod
    def bytes_per_entry(children: int, agents: int, n_actions: int) -> int:
        action_bytes = 2 if n_actions <= torch.iinfo(torch.int16).max else 4
        return 8 + children * agents * action_bytes + children * (4 + 4 + 1) + 4 + 4 + 8  # key, actions, omega/A/valid, values, model

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + sum(getattr(self.store, name).nbytes for name in
                                      ("joint_actions", "omega", "valid", "advantages", "root_value", "root_pred_value",
                                                       "model_update"))

    def _slots(self, keys: Tensor) -> Tensor:
        return torch.as_tensor(np.asarray(keys), dtype=torch.long) % self.capacity

    def hits(self, keys: Tensor, updates_now: int, max_age: int) -> Tensor:
        """bool [P]: the slot holds this key and its model is at most `max_age` updates old."""
        keys = torch.as_tensor(np.asarray(keys), dtype=torch.long)
        slots = self._slots(keys)
        fresh = updates_now - self.store.model_update[slots] <= max_age
        return (keys >= 0) & (self.keys[slots] == keys) & fresh

    def get(self, keys: Tensor) -> PolicyTargets:
        targets = self.store.select(self._slots(keys))
        targets.joint_actions = targets.joint_actions.long()
        return targets

    def put(self, keys: Tensor, targets: PolicyTargets) -> None:
        """Stores targets of distinct keys (a later put of a key replaces the earlier one)."""
        slots = self._slots(keys)
        self.keys[slots] = torch.as_tensor(np.asarray(keys), dtype=torch.long)
        self.store.assign(slots, targets.to("cpu"))

    def clear(self) -> None:
        self.keys.fill_(-1)

    def state_dict(self) -> dict:
        """Only the occupied slots (a cache at a fraction of its capacity saves that fraction)."""
        used = torch.nonzero(self.keys >= 0).squeeze(-1)
        return {"capacity": self.capacity, "slots": used, "keys": self.keys[used].clone(),
                "store": self.store.select(used).__dict__}

    def load_state_dict(self, state: dict) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(f"reanalysis cache capacity {state['capacity']} in the checkpoint, {self.capacity} here")
        self.clear()
        slots = state["slots"]
        self.keys[slots] = state["keys"]
        self.store.assign(slots, PolicyTargets(**state["store"]))

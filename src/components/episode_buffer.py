"""Padded episode storage shared by runners, buffers and learners.

A *scheme* declares each field once: `{"obs": {"vshape": (obs_dim,), "group": "agents"}}`.
Fields in a group get the group's size as a leading dimension; `episode_const` fields are
stored once per episode. A reserved `filled` field marks the real time steps of each padded
episode, so learners can vectorise over [batch, time, agents, ...] with a mask.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import torch

Index = slice | int | list[int] | np.ndarray | torch.Tensor


@dataclass
class Field:
    vshape: tuple[int, ...]
    dtype: torch.dtype
    group: str | None
    episode_const: bool


def _parse_scheme(scheme: dict, groups: dict[str, int], preprocess: dict | None) -> dict[str, dict]:
    """Returns the scheme with preprocess outputs and the `filled` mask added."""
    full = {k: dict(v) for k, v in scheme.items()}
    for src_key, (new_key, transforms) in (preprocess or {}).items():
        vshape, dtype = tuple(_as_shape(full[src_key]["vshape"])), full[src_key].get("dtype", torch.float32)
        for transform in transforms:
            vshape, dtype = transform.infer_output_info(vshape, dtype)
        full[new_key] = {"vshape": vshape, "dtype": dtype}
        for attr in ("group", "episode_const"):
            if attr in full[src_key]:
                full[new_key][attr] = full[src_key][attr]
    if "filled" in scheme:
        raise ValueError("'filled' is a reserved key of the episode scheme")
    full["filled"] = {"vshape": (1,), "dtype": torch.long}
    for key, spec in full.items():
        group = spec.get("group")
        if group is not None and group not in groups:
            raise ValueError(f"scheme field '{key}' names unknown group '{group}' (known: {sorted(groups)})")
    return full


def _as_shape(vshape: int | Iterable[int]) -> tuple[int, ...]:
    return (vshape,) if isinstance(vshape, int) else tuple(vshape)


class EpisodeBatch:
    """A batch of padded episodes: transition fields are [B, T, ...], episode fields [B, ...]."""

    def __init__(
        self,
        scheme: dict,
        groups: dict[str, int],
        batch_size: int,
        max_seq_length: int,
        data: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]] | None = None,
        preprocess: dict | None = None,
        device: str | torch.device = "cpu",
        _parsed: bool = False,
    ):
        self.scheme = scheme if _parsed else _parse_scheme(scheme, groups, preprocess)
        self.groups = dict(groups)
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.preprocess = preprocess or {}
        self.device = torch.device(device)
        if data is not None:
            self.transition_data, self.episode_data = data
        else:
            self.transition_data, self.episode_data = {}, {}
            self._allocate()

    # ----------------------------------------------------------------- storage
    def _field_shape(self, spec: dict) -> tuple[int, ...]:
        shape = _as_shape(spec["vshape"])
        group = spec.get("group")
        return (self.groups[group], *shape) if group else shape

    def _allocate(self) -> None:
        for key, spec in self.scheme.items():
            shape, dtype = self._field_shape(spec), spec.get("dtype", torch.float32)
            if spec.get("episode_const", False):
                self.episode_data[key] = torch.zeros((self.batch_size, *shape), dtype=dtype, device=self.device)
            else:
                self.transition_data[key] = torch.zeros(
                    (self.batch_size, self.max_seq_length, *shape), dtype=dtype, device=self.device
                )

    def to(self, device: str | torch.device) -> "EpisodeBatch":
        device = torch.device(device)
        for store in (self.transition_data, self.episode_data):
            for key, value in store.items():
                store[key] = value.to(device)
        self.device = device
        return self

    # ------------------------------------------------------------------ writes
    def update(self, data: dict[str, Any], bs: Index = slice(None), ts: Index = slice(None), mark_filled: bool = True) -> None:
        """Writes `data` at batch rows `bs` and time steps `ts`, applying the preprocess transforms."""
        bs_t, ts_t = self._index(bs, self.batch_size), self._index(ts, self.max_seq_length)
        for key, value in data.items():
            if key in self.transition_data:
                target, index = self.transition_data, (bs_t, ts_t)
                if mark_filled:
                    self.transition_data["filled"][index] = 1
                    mark_filled = False
            elif key in self.episode_data:
                target, index = self.episode_data, (bs_t,)
            else:
                raise KeyError(f"'{key}' is not in the episode scheme (fields: {sorted(self.scheme)})")
            dtype = self.scheme[key].get("dtype", torch.float32)
            tensor = torch.as_tensor(value, dtype=dtype, device=self.device)
            view = target[key][index]
            target[key][index] = tensor.reshape(view.shape)
            if key in self.preprocess:
                new_key, transforms = self.preprocess[key]
                out = target[key][index]
                for transform in transforms:
                    out = transform.transform(out)
                target[new_key][index] = out.reshape(target[new_key][index].shape)

    @staticmethod
    def _index(item: Index, size: int) -> slice | torch.Tensor:
        """Turns an int into a length-1 slice so every write keeps its batch/time dimensions."""
        if isinstance(item, slice):
            return item
        if isinstance(item, int):
            return slice(item, item + 1)
        return torch.as_tensor(np.asarray(item) if not isinstance(item, torch.Tensor) else item, dtype=torch.long)

    # ------------------------------------------------------------------- reads
    def __getitem__(self, item: str | tuple | slice | list | np.ndarray | torch.Tensor | int):
        if isinstance(item, str):
            if item in self.episode_data:
                return self.episode_data[item]
            if item in self.transition_data:
                return self.transition_data[item]
            raise KeyError(f"'{item}' is not in the episode scheme (fields: {sorted(self.scheme)})")
        if isinstance(item, tuple) and all(isinstance(k, str) for k in item):
            scheme = {k: self.scheme[k] for k in (*item, "filled")}
            data = (
                {k: v for k, v in self.transition_data.items() if k in scheme},
                {k: v for k, v in self.episode_data.items() if k in scheme},
            )
            return self._new(scheme, data, self.batch_size, self.max_seq_length)
        bs, ts = item if isinstance(item, tuple) else (item, slice(None))
        bs, ts = self._index(bs, self.batch_size), self._index(ts, self.max_seq_length)
        if isinstance(ts, torch.Tensor):
            raise IndexError("time indexing must be a slice or an int (episodes stay contiguous)")
        data = (
            {k: v[bs][:, ts] for k, v in self.transition_data.items()},
            {k: v[bs] for k, v in self.episode_data.items()},
        )
        n_batch = len(range(self.batch_size)[bs]) if isinstance(bs, slice) else len(bs)
        return self._new(self.scheme, data, n_batch, len(range(self.max_seq_length)[ts]))

    def _new(self, scheme: dict, data: tuple, batch_size: int, max_seq_length: int) -> "EpisodeBatch":
        return EpisodeBatch(scheme, self.groups, batch_size, max_seq_length, data=data,
                            preprocess=self.preprocess, device=self.device, _parsed=True)

    def clone(self) -> "EpisodeBatch":
        """A copy with its own storage (and outside inference mode, so autograd may use it)."""
        data = ({k: v.clone() for k, v in self.transition_data.items()},
                {k: v.clone() for k, v in self.episode_data.items()})
        return self._new(self.scheme, data, self.batch_size, self.max_seq_length)

    def max_t_filled(self) -> int:
        """Length of the longest real episode in the batch."""
        return int(self.transition_data["filled"].sum(1).max().item())

    def state_dict(self, rows: int | None = None) -> dict:
        """The first `rows` episodes (all by default). A replay passes the rows it has filled, so
        a checkpoint early in a run holds what was collected, not the whole preallocated buffer
        (5,000 episodes padded to the episode limit: 2.2 GB on SMAX 2s3z); the steps after the
        longest of them, empty padding, are left out too. A copy, since saving a view of a tensor
        would write the tensor's whole storage."""
        if rows is None or rows >= self.batch_size:
            return {"transition_data": self.transition_data, "episode_data": self.episode_data}
        steps = self[:rows].max_t_filled() if rows else 0
        return {"transition_data": {k: v[:rows, :steps].clone() for k, v in self.transition_data.items()},
                "episode_data": {k: v[:rows].clone() for k, v in self.episode_data.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Takes a state of up to `batch_size` episodes of up to `max_seq_length` steps into the
        first rows and steps; the rest are empty."""
        for store, saved, time_axis in ((self.transition_data, state["transition_data"], True),
                                        (self.episode_data, state["episode_data"], False)):
            for key in store:
                value, shape = saved[key], store[key].shape
                fixed = 2 if time_axis else 1  # leading axes that may be shorter than the buffer's
                if (value.shape[fixed:] != shape[fixed:]
                        or any(n > limit for n, limit in zip(value.shape[:fixed], shape[:fixed]))):
                    raise ValueError(f"saved '{key}' of shape {tuple(value.shape)} does not fit a buffer "
                                     f"of shape {tuple(shape)}")
                if value.shape == shape:
                    store[key] = value.to(self.device)
                else:
                    store[key] = torch.zeros_like(store[key])
                    store[key][tuple(slice(0, n) for n in value.shape[:fixed])] = value.to(self.device)

    def __repr__(self) -> str:
        return f"EpisodeBatch(batch_size={self.batch_size}, max_seq_length={self.max_seq_length}, keys={sorted(self.scheme)})"

"""Prioritised transition replay for MAZero: episodes are stored whole, positions are sampled.

Episodes live in a circular EpisodeBatch of `buffer_size` episodes; each real time step gets a
transition id in a PrioritizedSampler. When an episode slot is overwritten its ids are evicted
with it (the reference never evicts and grows without bound). A sample is the window of
`unroll_steps + td_steps` steps after each sampled position, with the frames before it for
observation stacking, padded past the episode's end with its final observation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from components.episode_buffer import EpisodeBatch
from components.prioritized_sampler import PrioritizedSampler
from components.replay import Replay
from components.schedules import LinearDecayThenFlat


@dataclass
class TransitionBatch:
    """Windows starting at B sampled positions t; W = stacked frames - 1 + unroll + td + 1 steps."""

    obs: Tensor            # [B, W, N, O]: o_{t-F+1} .. o_{t+K+n} (clamped to the episode's final obs)
    avail_actions: Tensor  # [B, K+n+1, N, A]: at t .. t+K+n
    actions: Tensor        # long [B, K+n, N]: a_t .. (0 past the end)
    rewards: Tensor        # [B, K+n]: u_t .. (0 past the end)
    steps_left: Tensor     # long [B]: T - t >= 1
    truncated: Tensor      # bool [B]: the episode ended by its time limit, not a terminal state
    weights: Tensor        # [B]: importance-sampling weights
    ids: np.ndarray        # transition ids, for the priority update
    age: Tensor            # long [B]: transitions stored since this one

    def to(self, device: str | torch.device) -> "TransitionBatch":
        for name in ("obs", "avail_actions", "actions", "rewards", "steps_left", "truncated", "weights", "age"):
            setattr(self, name, getattr(self, name).to(device))
        return self


def windows(data: dict[str, Tensor], lengths: np.ndarray, rows: np.ndarray, starts: np.ndarray, args: Any,
            ids: np.ndarray, weights: np.ndarray, age: np.ndarray) -> TransitionBatch:
    """The windows at positions `starts` of episode rows `rows` (of lengths `lengths`) of padded
    episode fields `data` ([rows, T, ...])."""
    horizon = args.unroll_steps + args.td_steps
    max_seq_length = data["obs"].shape[1]
    rows_t = torch.as_tensor(rows)[:, None]
    offsets = np.arange(-(args.stacked_observations - 1), horizon + 1)
    obs_pos = np.clip(starts[:, None] + offsets, -1, lengths[:, None])  # -1: before the episode
    obs = data["obs"][rows_t, torch.as_tensor(np.maximum(obs_pos, 0))]
    obs = torch.where(torch.as_tensor(obs_pos >= 0)[..., None, None], obs, torch.zeros_like(obs))
    step_pos = np.arange(horizon + 1)[None, :] + starts[:, None]
    avail = data["avail_actions"][rows_t, torch.as_tensor(np.minimum(step_pos, lengths[:, None]))]
    inside = torch.as_tensor(step_pos[:, :horizon] < lengths[:, None])
    act_pos = torch.as_tensor(np.minimum(step_pos[:, :horizon], max_seq_length - 1))
    actions = data["actions"][rows_t, act_pos][..., 0] * inside[..., None]
    rewards = data["reward"][rows_t, act_pos][..., 0] * inside
    last_step = torch.as_tensor(np.maximum(lengths - 1, 0))
    ended_terminal = data["terminated"][torch.as_tensor(rows), last_step, 0].bool()
    return TransitionBatch(
        obs=obs.float(), avail_actions=avail, actions=actions.long(), rewards=rewards.float(),
        steps_left=torch.as_tensor(lengths - starts), truncated=~ended_terminal,
        weights=torch.as_tensor(weights, dtype=torch.float32), ids=ids, age=torch.as_tensor(age),
    )


def episode_windows(batch: EpisodeBatch, args: Any) -> TransitionBatch:
    """The window at every step of every episode of `batch` (e.g. held-out test episodes), as the
    replay would sample them, with weight 1 and no transition ids (-1)."""
    lengths = (batch["filled"][:, :, 0].sum(1) - 1).clamp(min=1).cpu().numpy()
    rows = np.repeat(np.arange(batch.batch_size), lengths)
    starts = np.concatenate([np.arange(n) for n in lengths])
    data = {k: v.cpu() for k, v in batch.transition_data.items()}
    return windows(data, lengths[rows], rows, starts, args, ids=np.full(len(rows), -1), weights=np.ones(len(rows)),
                   age=np.zeros(len(rows), dtype=np.int64))


def transition_capacity(args: Any) -> int:
    """Transition ids live at once: every episode slot at the episode limit."""
    return args.buffer_size * args.env_info.episode_limit


class PrioritizedTransitionReplay(Replay):
    def __init__(self, scheme: dict, groups: dict[str, int], args: Any, preprocess: dict | None):
        self.args = args
        self.max_seq_length = args.env_info.episode_limit + 1
        self.storage = EpisodeBatch(scheme, groups, args.buffer_size, self.max_seq_length,
                                    preprocess=preprocess, device="cpu")
        self.buffer_size = args.buffer_size
        self.sampler = PrioritizedSampler(transition_capacity(args), alpha=args.priority_alpha)
        self.lengths = np.zeros(args.buffer_size, dtype=np.int64)
        self.first_ids = np.zeros(args.buffer_size, dtype=np.int64)
        self.row_of_slot = np.zeros(self.sampler.capacity, dtype=np.int64)  # transition slot -> episode row
        self.next_row = 0
        self.episodes_in_buffer = 0
        self.transitions_seen = 0
        self.samples_drawn = 0
        self.beta = LinearDecayThenFlat(args.priority_beta_start, 1.0, args.priority_beta_updates)
        self.rng = np.random.default_rng(args.seed)

    # ----------------------------------------------------------------- storage
    def insert_episode_batch(self, batch: EpisodeBatch) -> None:
        lengths = (batch["filled"][:, :, 0].sum(1) - 1).clamp(min=1).cpu().numpy()
        for i in range(batch.batch_size):
            self._insert_episode(batch, i, int(lengths[i]))

    def _insert_episode(self, batch: EpisodeBatch, i: int, length: int) -> None:
        row = self.next_row
        if self.episodes_in_buffer == self.buffer_size:  # the oldest episode leaves with its ids
            self.sampler.evict_oldest(int(self.lengths[row]))
        for key, value in batch.transition_data.items():
            self.storage.transition_data[key][row] = 0
            self.storage.transition_data[key][row, : batch.max_seq_length] = value[i]
        ids = self.sampler.add(length)
        self.row_of_slot[ids % len(self.row_of_slot)] = row
        self.first_ids[row], self.lengths[row] = ids[0], length
        self.next_row = (row + 1) % self.buffer_size
        self.episodes_in_buffer = min(self.episodes_in_buffer + 1, self.buffer_size)
        self.transitions_seen += length

    def __len__(self) -> int:
        return len(self.sampler)

    def can_sample(self, batch_size: int) -> bool:
        return len(self.sampler) >= max(batch_size, self.args.min_replay_transitions)

    # ---------------------------------------------------------------- sampling
    def sample(self, batch_size: int) -> TransitionBatch:
        drawn = self.sampler.sample(batch_size, self.beta(self.samples_drawn), self.rng)
        self.samples_drawn += 1
        rows = self.row_of_slot[drawn.ids % len(self.row_of_slot)]
        starts = drawn.ids - self.first_ids[rows]
        return self._windows(rows, starts, drawn.ids, drawn.weights)

    def _windows(self, rows: np.ndarray, starts: np.ndarray, ids: np.ndarray, weights: np.ndarray) -> TransitionBatch:
        return windows(self.storage.transition_data, self.lengths[rows], rows, starts, self.args,
                       ids=ids, weights=weights, age=self.sampler.next_id - ids)

    def update_priorities(self, sample: TransitionBatch, priorities: Tensor) -> None:
        self.sampler.update_priorities(sample.ids, priorities.detach().cpu().double().numpy())

    # ------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        return {"storage": self.storage.state_dict(rows=self.episodes_in_buffer), "sampler": self.sampler.state_dict(),
                "lengths": self.lengths.copy(), "first_ids": self.first_ids.copy(),
                "row_of_slot": self.row_of_slot.copy(), "next_row": self.next_row,
                "episodes_in_buffer": self.episodes_in_buffer, "transitions_seen": self.transitions_seen,
                "samples_drawn": self.samples_drawn, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.storage.load_state_dict(state["storage"])
        self.sampler.load_state_dict(state["sampler"])
        self.lengths, self.first_ids, self.row_of_slot = state["lengths"], state["first_ids"], state["row_of_slot"]
        self.next_row, self.episodes_in_buffer = state["next_row"], state["episodes_in_buffer"]
        self.transitions_seen, self.samples_drawn = state["transitions_seen"], state["samples_drawn"]
        self.rng.bit_generator.state = state["rng"]

"""What MAZero's model sees: stacked local observations (+ agent id) and alive masks, in the
model's view of the action space. The controller (acting), the learner (unroll, value targets)
and the reanalysis workers all turn environment data into model inputs through `InputPipeline`."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from modules.mazero.action_view import ActionView


def alive_mask(avail_actions: Tensor, noop_action: int | None) -> Tensor:
    """bool [..., N]: an agent whose only available action is the no-op is dead."""
    if noop_action is None:
        return torch.ones(avail_actions.shape[:-1], dtype=torch.bool, device=avail_actions.device)
    only_noop = (avail_actions.sum(-1) == 1) & (avail_actions[..., noop_action] == 1)
    return ~only_noop


def frame_window(obs: Tensor, t: int, n_frames: int) -> Tensor:
    """obs [B, T, N, O] -> the last `n_frames` frames up to t, zeros before the episode: [B, F, N, O]."""
    first = t - n_frames + 1
    window = obs[:, max(first, 0) : t + 1]
    if first < 0:
        pad = window.new_zeros(window.shape[0], -first, *window.shape[2:])
        window = torch.cat([pad, window], dim=1)
    return window


def agent_inputs(frames: Tensor, obs_agent_id: bool) -> Tensor:
    """[..., F, N, O] stacked frames -> per-agent inputs [..., N, F*O (+N)]."""
    *lead, n_frames, n_agents, obs_dim = frames.shape
    stacked = frames.movedim(-3, -2).reshape(*lead, n_agents, n_frames * obs_dim)
    if not obs_agent_id:
        return stacked
    eye = torch.eye(n_agents, dtype=stacked.dtype, device=stacked.device).expand(*lead, n_agents, n_agents)
    return torch.cat([stacked, eye], dim=-1)


@dataclass(frozen=True)
class InputPipeline:
    """Environment frames and availabilities -> (model inputs, model avail, model agent mask)."""

    view: ActionView
    obs_agent_id: bool
    noop_action: int | None

    def __call__(self, frames: Tensor, avail: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """frames [.., F, N, O], avail [.., N, A] -> inputs [.., N', D'], avail [.., N', A'], mask bool [.., N']."""
        inputs = self.view.inputs(agent_inputs(frames, self.obs_agent_id))
        alive = alive_mask(avail, self.noop_action)
        return inputs, self.view.avail(avail), self.view.mask(alive)

"""Imagined rollouts: the actor acts in the world model, from replayed posterior states.

Each imagined step the available-action head's Bernoulli sample masks the actor's logits (as the
environment's mask does when acting), an action is sampled, and the RSSM's prior gives the next
state. Everything is sampled without gradients: the behaviour learns by PPO on the stored rollout,
not by backpropagating through the model."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from modules.mamba.actor_critic import Actor, masked_logits
from modules.mamba.rssm import RSSMState, sample_one_hot
from modules.mamba.world_model import WorldModel


@dataclass
class Imagination:
    """H imagined states per start (the start included) and the H - 1 actions between them, [M, H(-1), N, *]."""

    stoch: Tensor       # z of each state (the prior's samples; the logits are not kept)
    deter: Tensor       # h of each state
    actions: Tensor     # one-hot
    available: Tensor   # the sampled availability masks the actions were drawn under
    logits: Tensor      # the behaviour policy's masked logits

    def features(self) -> Tensor:
        """[z_t, h_t] of every state: what the actor and the critic read."""
        return torch.cat([self.stoch, self.deter], dim=-1)

    def after_action(self) -> Tensor:
        """[z_t, h_{t+1}] for t < H - 1: the reward and continuation heads' input (h_{t+1} holds a_t)."""
        return torch.cat([self.stoch[:, :-1], self.deter[:, 1:]], dim=-1)


@torch.no_grad()
def imagine(model: WorldModel, actor: Actor, start: RSSMState, horizon: int) -> Imagination:
    """Rolls every start state [M, N, *] forward for `horizon` - 1 actions."""
    state, stoch, deter, actions, available, logits = start, [start.stoch], [start.deter], [], [], []
    for _ in range(horizon - 1):
        features = state.features()
        mask = torch.bernoulli(torch.sigmoid(model.available_actions(features)))
        step_logits = masked_logits(actor(features), mask)
        action = sample_one_hot(step_logits)
        state = model.rssm.imagine_step(state, action)
        stoch.append(state.stoch)
        deter.append(state.deter)
        actions.append(action)
        available.append(mask)
        logits.append(step_logits)
    return Imagination(*(torch.stack(x, dim=1) for x in (stoch, deter, actions, available, logits)))

"""MAMBA's controller: every agent acts on the posterior latent of its own world model.

At each step the agents' RSSM states advance with their previous actions (communicating through
the transformer), the posteriors take in the new observations, and each agent's actor samples an
action from its own features, unavailable actions masked to zero probability. That sampling is
the exploration, as in the official code (its epsilon-noise hook is never called, and its noise is
0). The RSSM states live across the steps of an episode and start from zero in `init_hidden`."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from itertools import chain
from typing import Any

import torch
from torch import Tensor

from components.action_selectors import random_argmax
from components.episode_buffer import EpisodeBatch
from config.mamba_schema import MAMBAConfig
from controllers.base import Controller
from modules.mamba.actor_critic import Actor, masked_logits
from modules.mamba.rssm import RSSMState, sample_one_hot
from modules.mamba.world_model import WorldModel, encoder_inputs, mamba_sizes


class MAMBAMAC(Controller):
    args: MAMBAConfig

    def __init__(self, scheme: dict, groups: dict[str, int], args: MAMBAConfig):
        super().__init__(scheme, groups, args)
        sizes = mamba_sizes(args)
        self.model = WorldModel(sizes)
        self.actor = Actor(sizes.features, args.hidden_dim, sizes.n_actions)
        self.n_agents, self.n_actions = sizes.n_agents, sizes.n_actions
        self.generator = torch.Generator().manual_seed(int(args.seed or 0) + 1)  # CPU: the same draws on any device
        self.device = torch.device("cpu")
        self.state: RSSMState | None = None  # [B, N, *] posterior of each running episode's agents

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def select_actions(self, ep_batch: EpisodeBatch, t_ep: int, t_env: int, bs: Any = slice(None),
                       test_mode: bool = False) -> Tensor:
        if self.state is None or self.state.deter.shape[0] != ep_batch.batch_size:
            self.init_hidden(ep_batch.batch_size)
        rows = bs if isinstance(bs, slice) else torch.as_tensor(bs, dtype=torch.long)
        obs = ep_batch["obs"][rows, t_ep].to(self.device).float()
        available = ep_batch["avail_actions"][rows, t_ep].to(self.device)
        if t_ep > 0:
            previous = ep_batch["actions_onehot"][rows, t_ep - 1].to(self.device).float()
        else:
            previous = torch.zeros(*obs.shape[:-1], self.n_actions, device=self.device)
        embed = self.model.encoder(encoder_inputs(obs, self.args.obs_agent_id))
        _, posterior = self.model.rssm.observe_step(self.state.map(lambda x: x[rows]), previous, embed, self.generator)
        for f in fields(RSSMState):
            getattr(self.state, f.name)[rows] = getattr(posterior, f.name)
        logits = masked_logits(self.actor(posterior.features()), available).cpu()
        if test_mode and self.args.test_greedy:
            return random_argmax(logits, available.cpu(), self.generator)
        return sample_one_hot(logits, self.generator).argmax(dim=-1)

    def init_hidden(self, batch_size: int) -> None:
        """Every episode (and every test episode) starts from the zero state and a zero previous action."""
        self.state = self.model.rssm.initial_state((batch_size, self.n_agents), self.device)

    # ------------------------------------------------------------ parameters/state
    def parameters(self) -> Iterator[torch.nn.Parameter]:
        return chain(self.model.parameters(), self.actor.parameters())

    def to(self, device: str | torch.device) -> "MAMBAMAC":
        self.device = torch.device(device)
        self.model.to(self.device)
        self.actor.to(self.device)
        self.state = None
        return self

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "actor": self.actor.state_dict(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.actor.load_state_dict(state["actor"])
        self.generator.set_state(state["generator"])

"""The MAMBA world model: encoder, communicating RSSM, decoder and prediction heads, with the
sizes read from a run's config. The controller acts with its encoder and RSSM; the learner trains
all of it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from modules.mamba.communication import AgentAttention
from modules.mamba.heads import (ActionInformationHead, ObservationDecoder, ObservationEncoder, PredictionHead,
                                 init_weights)
from modules.mamba.rssm import RSSM


@dataclass(frozen=True)
class MAMBASizes:
    n_agents: int
    obs_dim: int                 # what the decoder reconstructs
    input_dim: int               # what the encoder reads (the observation, plus the agent id when configured)
    n_actions: int
    hidden: int
    embed: int
    deterministic: int
    n_categoricals: int
    n_classes: int
    communication_layers: int
    heads: int
    dropout: float
    agent_index_encoding: bool

    @property
    def features(self) -> int:
        """Size of one agent's [z, h]."""
        return self.n_categoricals * self.n_classes + self.deterministic


def mamba_sizes(args: Any) -> MAMBASizes:
    """Network sizes from a MAMBAConfig whose `env_info` is filled in."""
    info = args.env_info
    obs_dim = int(info.obs_shape if isinstance(info.obs_shape, int) else info.obs_shape[0])
    return MAMBASizes(
        n_agents=info.n_agents, obs_dim=obs_dim, input_dim=obs_dim + (info.n_agents if args.obs_agent_id else 0),
        n_actions=info.n_actions, hidden=args.hidden_dim, embed=args.embed_dim, deterministic=args.deterministic_dim,
        n_categoricals=args.n_categoricals, n_classes=args.n_classes, communication_layers=args.communication_layers,
        heads=args.communication_heads, dropout=args.dropout, agent_index_encoding=args.agent_index_encoding)


def encoder_inputs(obs: Tensor, with_agent_id: bool) -> Tensor:
    """obs [..., N, O] -> the encoder's input: the observation, then a one-hot agent id if configured."""
    if not with_agent_id:
        return obs
    n_agents = obs.shape[-2]
    ids = torch.eye(n_agents, device=obs.device, dtype=obs.dtype).expand(*obs.shape[:-1], n_agents)
    return torch.cat([obs, ids], dim=-1)


class WorldModel(nn.Module):
    def __init__(self, sizes: MAMBASizes) -> None:
        super().__init__()
        self.sizes = sizes
        h, f = sizes.hidden, sizes.features
        self.encoder = ObservationEncoder(sizes.input_dim, h, sizes.embed)
        communication = AgentAttention(h, sizes.communication_layers, sizes.heads, sizes.dropout,
                                       sizes.agent_index_encoding)
        self.rssm = RSSM(sizes.n_actions, sizes.embed, h, sizes.deterministic, sizes.n_categoricals,
                         sizes.n_classes, communication)
        self.decoder = ObservationDecoder(f, h, sizes.obs_dim)
        self.reward = PredictionHead(f, h, 1)                   # reads [z_t, h_{t+1}]: the action is in h_{t+1}
        self.continuation = PredictionHead(f, h, 1)             # logit of "the episode goes on", same input
        self.available_actions = PredictionHead(f, h, sizes.n_actions)  # independent Bernoulli logits from [z_t, h_t]
        self.action_information = ActionInformationHead(h, sizes.n_actions)
        init_weights(self)
        self.eval()  # dropout only inside world-model updates, as in the official learner

"""RODE's controller: every `role_interval` steps each agent picks a role (epsilon-greedy over the
role selector's values, among the distinct role action spaces), then acts with its role's policy:
greedily inside the role's action space, and, with `action_selector: soft_epsilon_greedy` (the
official choice), exploring over all available actions on an epsilon schedule that restarts at
the clustering (plain `epsilon_greedy` explores inside the role and never restarts).

The chosen role and the role-restricted availability mask of each step go into the episode
through the framework's hooks (`extra_scheme` declares them, `step_extras` hands them to the
runner after `select_actions`), so RODE runs on the standard runner. The role epsilon schedule
restarts when the learner clusters the actions into role action spaces."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from components.action_selectors import EpsilonGreedySelector, SoftEpsilonGreedySelector
from components.episode_buffer import EpisodeBatch
from components.schedules import LinearDecayThenFlat
from controllers.basic_controller import BasicMAC
from modules.agents.rode_agent import RODEAgent
from modules.rode.action_encoder import ActionEncoder
from modules.rode.role_spaces import cluster_role_spaces, distinct_roles, restrict_to_roles, role_representations
from modules.rode.roles import RolePolicies, RoleSelector


class RoleModules(nn.Module):
    """The trained role networks plus the state the clustering sets (buffers, so checkpoints and
    target copies carry them). The role selector reads its own recurrent trunk (the official
    code's `role_agent`), so the role-level TD loss does not share the action trunk."""

    def __init__(self, args: Any, input_shape: int):
        super().__init__()
        n_actions, latent = args.env_info.n_actions, args.action_latent_dim
        self.selector_trunk = RODEAgent(input_shape, args)
        self.selector = RoleSelector(args.hidden_dim, latent)
        self.policies = RolePolicies(args.n_role_clusters, args.hidden_dim, latent)
        self.register_buffer("action_repr", torch.zeros(n_actions, latent))
        self.one_hot_policies = args.role_policy_action_repr == "one_hot"
        if self.one_hot_policies and latent < n_actions:
            raise ValueError(f"role_policy_action_repr=one_hot needs action_latent_dim >= n_actions ({n_actions}), "
                             f"got {latent}")
        self.register_buffer("spaces", torch.ones(args.n_role_clusters, n_actions, dtype=torch.long))
        self.register_buffer("clustered_at", torch.tensor(-1))  # env step of the clustering, -1 before

    def role_values(self, hidden: torch.Tensor) -> torch.Tensor:
        """[..., H] -> [..., R]."""
        return self.selector(hidden, role_representations(self.spaces, self.action_repr))

    def policy_action_repr(self) -> torch.Tensor:
        """[A, L] the role policies score actions against: RODE's learned representations, or, for
        the `one_hot` diagnostic, orthonormal ones (independent action columns, as in QMIX's head)."""
        if self.one_hot_policies:
            return torch.eye(*self.action_repr.shape, device=self.action_repr.device, dtype=self.action_repr.dtype)
        return self.action_repr

    def action_values(self, hidden: torch.Tensor, roles: torch.Tensor) -> torch.Tensor:
        """hidden [..., H], roles [...] -> the values of each agent's own role [..., A]."""
        every_role = self.policies(hidden, self.policy_action_repr())
        index = roles.long().to(hidden.device)[..., None, None].expand(*roles.shape, 1, every_role.shape[-1])
        return every_role.gather(-2, index).squeeze(-2)


class RODEMAC(BasicMAC):
    def __init__(self, scheme: dict, groups: dict[str, int], args: Any):
        super().__init__(scheme, groups, args)
        self.role_interval = args.role_interval
        self.roles_net = RoleModules(args, self._get_input_shape(scheme))
        self.role_hidden: torch.Tensor | None = None
        self.encoder = ActionEncoder(args.env_info.obs_shape, self.n_actions, args.state_latent_dim,
                                     args.action_latent_dim, args.hidden_dim)
        self.role_selector = EpsilonGreedySelector(args)
        self.role_selector.generator.manual_seed(int(args.seed or 0) + 2)
        self.role_selector.schedule = LinearDecayThenFlat(args.epsilon_start, args.role_epsilon_finish,
                                                          args.epsilon_anneal_time_exp)
        self.cluster_generator = torch.Generator().manual_seed(int(args.seed or 0) + 3)
        self.roles: torch.Tensor | None = None
        self._extras: dict[str, torch.Tensor] = {}
        self.refresh_action_repr()

    # ------------------------------------------------------------------ acting
    def select_actions(self, ep_batch: EpisodeBatch, t_ep: int, t_env: int, bs: Any = slice(None),
                       test_mode: bool = False) -> torch.Tensor:
        hidden = self.forward(ep_batch, t_ep, test_mode=test_mode)  # [B, N, H]
        if self.roles is None or t_ep % self.role_interval == 0:
            role_qs = self.roles_net.role_values(self.role_hidden)
            self.roles = self.role_selector.select_action(role_qs, self.role_mask().expand_as(role_qs),
                                                          self._role_clock(t_env), test_mode=test_mode)
        avail = ep_batch["avail_actions"][:, t_ep]
        role_avail = restrict_to_roles(avail.cpu(), self.roles_net.spaces.cpu(), self.roles,
                                       self.args.env_info.noop_action)
        qs = self.roles_net.action_values(hidden, self.roles)
        if isinstance(self.action_selector, SoftEpsilonGreedySelector):
            restart = int(self.roles_net.clustered_at.item()) if self.clustered else None
            actions = self.action_selector.select_in_role(qs[bs], avail[bs], role_avail[bs], t_env, restart,
                                                          test_mode=test_mode)
        else:
            actions = self.action_selector.select_action(qs[bs], role_avail[bs], t_env, test_mode=test_mode)
        self._extras = {"roles": self.roles[bs].unsqueeze(-1), "role_avail_actions": role_avail[bs]}
        return actions

    def role_mask(self) -> torch.Tensor:
        """[R] 0/1: the roles that may be chosen (one per distinct action space)."""
        return distinct_roles(self.roles_net.spaces)

    def _role_clock(self, t_env: int) -> int:
        """Env steps on the role epsilon schedule: it starts again at the clustering."""
        start = int(self.roles_net.clustered_at.item())
        return t_env - max(start, 0)

    def forward(self, ep_batch: EpisodeBatch, t: int, test_mode: bool = False) -> torch.Tensor:
        """Steps both trunks on the same inputs; returns the action trunk's state [B, N, H] and
        keeps the selector trunk's in `role_hidden`."""
        inputs = self._build_inputs(ep_batch, t)
        bs = ep_batch.batch_size
        self._ensure_hidden(bs)
        hidden, _ = self.agent(inputs, self.hidden_states)
        role_hidden, _ = self.roles_net.selector_trunk(inputs, self.role_hidden)
        self.hidden_states = hidden.view(bs, self.n_agents, -1)
        self.role_hidden = role_hidden.view(bs, self.n_agents, -1)
        return self.hidden_states

    def init_hidden(self, batch_size: int) -> None:
        super().init_hidden(batch_size)
        self.role_hidden = self._initial_hidden(self.roles_net.selector_trunk, batch_size)
        self.roles = None

    def unroll_roles(self, ep_batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Over whole episodes: action values under the roles stored in the batch [B, T, N, A] and
        role values [B, T, N, R]."""
        self.init_hidden(ep_batch.batch_size)
        hidden, role_hidden = [], []
        for t in range(ep_batch.max_seq_length):
            hidden.append(self.forward(ep_batch, t))
            role_hidden.append(self.role_hidden)
        roles = ep_batch["roles"][..., 0]
        return (self.roles_net.action_values(torch.stack(hidden, dim=1), roles),
                self.roles_net.role_values(torch.stack(role_hidden, dim=1)))

    # -------------------------------------------------------------- roles
    @torch.no_grad()
    def refresh_action_repr(self) -> None:
        self.roles_net.action_repr.copy_(self.encoder.representations())

    @torch.no_grad()
    def cluster_actions(self, t_env: int, iters: int) -> None:
        """Freezes the action representations and splits the actions into role action spaces."""
        self.refresh_action_repr()
        info = self.args.env_info
        spaces = cluster_role_spaces(self.roles_net.action_repr, self.roles_net.spaces.shape[0], iters,
                                     self.cluster_generator, info.noop_action, info.move_actions)
        self.roles_net.spaces.copy_(spaces)
        self.roles_net.clustered_at.fill_(t_env)

    @property
    def clustered(self) -> bool:
        return int(self.roles_net.clustered_at.item()) >= 0

    # ----------------------------------------------------------- hooks
    def extra_scheme(self) -> dict:
        return {
            "roles": {"vshape": (1,), "group": "agents", "dtype": torch.long},
            "role_avail_actions": {"vshape": (self.n_actions,), "group": "agents", "dtype": torch.int},
        }

    def step_extras(self) -> dict[str, torch.Tensor]:
        return self._extras

    # ------------------------------------------------------- parameters/state
    def parameters(self) -> list[nn.Parameter]:
        return list(self.agent.parameters()) + list(self.roles_net.parameters())

    def load_state(self, other_mac: "RODEMAC") -> None:
        super().load_state(other_mac)
        self.roles_net.load_state_dict(other_mac.roles_net.state_dict())

    def state_dict(self) -> dict:
        return {**super().state_dict(), "roles_net": self.roles_net.state_dict(), "encoder": self.encoder.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.roles_net.load_state_dict(state["roles_net"])
        self.encoder.load_state_dict(state["encoder"])

    def rng_state(self) -> torch.Tensor:
        return torch.stack([super().rng_state(), self.role_selector.generator.get_state(),
                            self.cluster_generator.get_state()])

    def set_rng_state(self, state: torch.Tensor) -> None:
        own, roles, clusters = (row.clone() for row in state)  # a generator needs its own storage
        super().set_rng_state(own)
        self.role_selector.generator.set_state(roles)
        self.cluster_generator.set_state(clusters)

    def to(self, device: str | torch.device) -> "RODEMAC":
        super().to(device)
        self.roles_net.to(device)
        self.encoder.to(device)
        return self

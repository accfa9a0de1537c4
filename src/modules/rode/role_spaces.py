"""Role action spaces: which actions each role may take, and the per-step masks they give.

RODE's rules are SMAC-specific (actions 0 and 1, no-op and stop, always allowed; the six
movement actions added to large clusters). Here the only always-allowed action is the
environment's declared `noop_action`, read from EnvInfo as every algorithm can; and a role
whose actions are all unavailable falls back to the available actions, so an alive agent is
never left without a move; nor is it left with only the no-op while other actions are
available."""
from __future__ import annotations

import torch


def role_action_spaces(labels: torch.Tensor, n_roles: int, n_actions: int, always_allowed: int | None) -> torch.Tensor:
    """0/1 masks [n_roles, A] from cluster labels [A]. A cluster holding nothing but the
    always-allowed action gives no role (it would be a do-nothing role); role r takes the r-th
    remaining cluster mod their number, so there are always `n_roles` non-empty spaces."""
    clusters = [labels == c for c in range(int(labels.max().item()) + 1)]
    if always_allowed is not None:
        kept = [c for c in clusters if c.sum() > int(c[always_allowed])]
        clusters = kept or clusters
    spaces = torch.stack([clusters[r % len(clusters)] for r in range(n_roles)]).long()
    if always_allowed is not None:
        spaces[:, always_allowed] = 1
    return spaces


def restrict_to_roles(avail: torch.Tensor, spaces: torch.Tensor, roles: torch.Tensor,
                      always_allowed: int | None = None) -> torch.Tensor:
    """avail [..., A] restricted by each agent's role [...] -> a subset of avail [..., A], and equal
    to avail wherever the role leaves no available action besides `always_allowed` (the no-op
    every role keeps): a role whose own actions are all unavailable (an attack role with no
    enemy in range) must not pin an alive agent to the no-op."""
    restricted = avail * spaces.to(avail.device)[roles.long()].to(avail.dtype)
    own = restricted
    if always_allowed is not None:
        own = torch.cat([restricted[..., :always_allowed], restricted[..., always_allowed + 1:]], dim=-1)
    empty = own.sum(dim=-1, keepdim=True) == 0
    return torch.where(empty, avail, restricted)


def role_representations(spaces: torch.Tensor, action_repr: torch.Tensor) -> torch.Tensor:
    """A role's latent is the mean representation of its actions: [R, A] x [A, L] -> [R, L]."""
    spaces = spaces.to(action_repr.dtype)
    return spaces @ action_repr / spaces.sum(dim=-1, keepdim=True).clamp_min(1.0)

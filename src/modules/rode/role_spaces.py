"""Role action spaces: which actions each role may take, and the per-step masks they give.

RODE's rule (official code, `update_role_action_spaces`) on SMAC: a cluster with fewer than two
actions besides the no-op gives no role, and every cluster with three or more also gets all
movement actions, so an attack role can still position itself and no role is "one action only".
Here the SMAC-specific action indices become the environment's declared `noop_action` and
`move_actions`, read from EnvInfo as every algorithm can (envs without movement actions keep
every cluster that holds more than the no-op). A role whose actions are all unavailable falls
back to the available actions, so an alive agent is never left without a move; nor is it left
with only the no-op while other actions are available."""
from __future__ import annotations

import torch

from modules.rode.kmeans import kmeans


def role_action_spaces(labels: torch.Tensor, n_roles: int, n_actions: int, always_allowed: int | None,
                       move_actions: tuple[int, ...] | None = None) -> torch.Tensor:
    """0/1 masks [n_roles, A] from cluster labels [A].

    Kept clusters: with `move_actions`, those with >= 2 actions besides the no-op (the ones with
    >= 3 gain the movement actions), and the actions this leaves in no role form one more role
    together with the movement actions (the official rule can leave, e.g., every single-target
    attack without a role; SMAX's encoder often splits the attacks); without `move_actions`, the
    clusters with anything besides the no-op. Role r takes the r-th kept cluster mod their
    number, so there are always `n_roles` non-empty spaces; every role keeps the no-op."""
    clusters = [labels == c for c in range(int(labels.max().item()) + 1)]
    own = [c.sum() - (int(c[always_allowed]) if always_allowed is not None else 0) for c in clusters]
    if move_actions is not None:
        moves = torch.zeros(n_actions, dtype=torch.bool, device=labels.device)
        moves[list(move_actions)] = True
        kept = [c | moves if size >= 3 else c for c, size in zip(clusters, own) if size >= 2]
        uncovered = ~torch.stack(kept).any(0) if kept else torch.ones_like(moves)
        if always_allowed is not None:
            uncovered[always_allowed] = False
        if uncovered.any():
            kept.append(uncovered | moves)
    else:
        kept = [c for c, size in zip(clusters, own) if size >= 1]
    clusters = kept or [torch.ones(n_actions, dtype=torch.bool, device=labels.device)]
    spaces = torch.stack([clusters[r % len(clusters)] for r in range(n_roles)]).long()
    if always_allowed is not None:
        spaces[:, always_allowed] = 1
    return spaces


def cluster_role_spaces(action_repr: torch.Tensor, n_roles: int, iters: int, generator: torch.Generator,
                        always_allowed: int | None, move_actions: tuple[int, ...] | None) -> torch.Tensor:
    """k-means over the action representations [A, L], then RODE's rule: [n_roles, A] 0/1 masks."""
    labels = kmeans(action_repr, n_roles, iters, generator)
    return role_action_spaces(labels, n_roles, action_repr.shape[0], always_allowed, move_actions)


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


def distinct_roles(spaces: torch.Tensor) -> torch.Tensor:
    """[R, A] -> [R] 0/1: the first role of each distinct action space. When the clustering keeps
    fewer spaces than roles, the repeats would be identical roles whose values tie forever and
    split the data at random, so the role choice (acting and bootstrapping) skips them."""
    same = (spaces[:, None, :] == spaces[None, :, :]).all(-1)  # [R, R]
    earlier = torch.tril(same, diagonal=-1).any(-1)
    return (~earlier).long()

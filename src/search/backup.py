"""Backup of one new leaf: visits, OS(lambda) values and advantages along its path.

Only the path's nodes change (their sets gained the leaf), so their values are re-read in O(1)
from the maintained sums and written to the nodes and to the parents' child tables.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .os_lambda import node_value
from .tree import TreeState


def backup_path(state: TreeState, path: Tensor, leaf_depth: Tensor, discount: float) -> None:
    """Visits, values, advantages of the path nodes and their edges in the parents' child tables."""
    batch, dummy, k = state.batch_size, state.dummy, state.child_node.shape[2]
    n_cols = dummy + 1
    j = torch.arange(path.shape[1], device=path.device)
    live = j.unsqueeze(0) <= leaf_depth.unsqueeze(1)
    flat = (torch.arange(batch, device=path.device).unsqueeze(1) * n_cols + path).view(-1)
    take = lambda t: t.view(-1).index_select(0, flat).view(batch, -1)  # noqa: E731
    zero = torch.zeros((), device=path.device, dtype=state.value.dtype)

    visits = take(state.visits) + live.to(zero.dtype)
    value = torch.where(live, node_value(take(state.weighted_sum), take(state.weighted_count),
                                         take(state.disc_return), take(state.disc_pow)), zero)
    reward = take(state.reward)
    parents = take(state.parent)
    parent_value = state.pred_value.gather(1, parents)
    q = reward + discount * value
    advantage = torch.where(live, q - parent_value, zero)
    state.visits.view(-1).scatter_(0, flat, visits.view(-1))
    state.value.view(-1).scatter_(0, flat, value.view(-1))
    state.advantage.view(-1).scatter_(0, flat, advantage.view(-1))

    is_edge = live & (j.unsqueeze(0) >= 1)
    edge_parent = torch.where(is_edge, parents, dummy)
    edge = ((torch.arange(batch, device=path.device).unsqueeze(1) * n_cols + edge_parent) * k
            + torch.where(is_edge, take(state.slot), 0)).view(-1)
    child_visits = state.child_visits.view(-1).index_select(0, edge) + 1.0
    prior = state.child_prior.view(-1).index_select(0, edge)
    state.child_visits.view(-1).scatter_(0, edge, child_visits)
    state.child_q.view(-1).scatter_(0, edge, q.view(-1))
    state.child_advantage.view(-1).scatter_(0, edge, advantage.view(-1))
    state.child_prior_over_visits.view(-1).scatter_(0, edge, prior / (1.0 + child_visits))

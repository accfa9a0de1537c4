"""Incremental OS(lambda) (paper eqs. 5-7) over a tensorised tree.

For a descendant w of u at relative depth d, the n-step value of eq. 5 is
    G(u -> w) = (key(w) - C(u)) / gamma**depth(u),  key(w) = C(w) + gamma**depth(w) * v(w),
an increasing affine map of one per-node scalar. So "the top (1 - rho) of U_d(u)" is "the largest
keys among u's descendants at absolute depth depth(u) + d", and each node w sits in exactly one set
per ancestor: one membership bit per (w, ancestor depth). Inserting a new leaf into all its
ancestors' sets is one masked min and one masked max over [B, depth, nodes] plus MAZero's
grow/swap rule, which keeps |top| = max(1, ceil((1 - rho) * n)) exact after every insert.
"""
from __future__ import annotations

import math
from fractions import Fraction

import torch
from torch import Tensor

from .tree import TreeState


def top_set_sizes(rho: float, max_count: int, device: torch.device) -> Tensor:
    """size[n] = max(1, ceil((1 - rho) * n)) for n >= 1 (0 for n = 0), computed exactly.

    Exact rational arithmetic on the decimal rho avoids the reference's float-ceil trap
    (e.g. rho = 0.65 gives one element too many at n = 20 in float).
    """
    keep = 1 - Fraction(str(rho))
    sizes = [0] + [max(1, math.ceil(keep * n)) for n in range(1, max_count + 1)]
    return torch.tensor(sizes, dtype=torch.long, device=device)


def depth_weights(lam: float, max_depth: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """lam**d for d = 0..max_depth with 0**0 = 1, so lam = 0 is the one-step lookahead V = v."""
    return torch.tensor([lam**d for d in range(max_depth + 1)], dtype=dtype, device=device)


def node_value(weighted_sum: Tensor, weighted_count: Tensor, disc_return: Tensor, disc_pow: Tensor) -> Tensor:
    """Eq. 7 from the maintained sums: sum_d lam^d sum_top G / sum_d lam^d |top|."""
    return (weighted_sum - weighted_count * disc_return) / (disc_pow * weighted_count)


def insert_leaf(
    state: TreeState, ancestors: Tensor, leaf_depth: Tensor, leaf_key: Tensor, extent_nodes: int,
    extent_depths: int, size_table: Tensor, lam_pow: Tensor,
) -> Tensor:
    """Insert the new leaf's key into the sets of its ancestors (itself included); returns the
    leaf's own membership bits [B, J].

    ancestors [B, J] (J = extent_depths: node at absolute depth j, dummy past the leaf),
    leaf_depth [B], leaf_key [B]. Must run before the leaf's own columns are written, so the
    leaf is not its own candidate. Only nodes < extent_nodes and depths < extent_depths are
    scanned (static per simulation). Updates set_count, top_count, top_sum, in_top_t,
    weighted_sum and weighted_count.
    """
    batch, dummy = state.batch_size, state.dummy
    device = ancestors.device
    j = torch.arange(extent_depths, device=device)
    live = j.unsqueeze(0) <= leaf_depth.unsqueeze(1)                                 # [B, J]
    rel_depth = (leaf_depth.unsqueeze(1) - j).clamp(min=0)                            # [B, J]

    # Candidates: existing nodes at the leaf's depth below the same depth-j ancestor.
    same_set = (state.ancestor_t[:, :extent_depths, :extent_nodes] == ancestors.to(state.ancestor_t.dtype).unsqueeze(-1)) \
        & (state.depth[:, :extent_nodes] == leaf_depth.unsqueeze(1)).unsqueeze(1)
    top_candidates = same_set & state.in_top_t[:, :extent_depths, :extent_nodes]
    bottom_candidates = same_set ^ top_candidates
    top_min, top_arg = masked_extreme(state, top_candidates, extent_nodes, largest=False)
    bottom_max, bottom_arg = masked_extreme(state, bottom_candidates, extent_nodes, largest=True)

    stat_index = ((torch.arange(batch, device=device).unsqueeze(1) * (dummy + 1) + ancestors)
                  * lam_pow.shape[0] + rel_depth).view(-1)
    old_count = state.set_count.view(-1).index_select(0, stat_index).view(batch, -1)
    old_top = state.top_count.view(-1).index_select(0, stat_index).view(batch, -1)
    old_sum = state.top_sum.view(-1).index_select(0, stat_index).view(batch, -1)
    new_count = (old_count + 1).clamp(max=size_table.shape[0] - 1)
    new_top = size_table.index_select(0, new_count.view(-1)).view(batch, -1)

    key = leaf_key.unsqueeze(1)
    grows = new_top > old_top
    grow_take_new = grows & (key >= bottom_max)          # empty bottom: bottom_max = -inf
    grow_promote = grows & ~grow_take_new                # best bottom key joins, leaf goes below
    swap_in = ~grows & (key >= top_min)                  # leaf replaces the smallest top key
    zero = torch.zeros((), device=device, dtype=leaf_key.dtype)
    delta = torch.where(grow_take_new, key, torch.where(grow_promote, bottom_max,
                        torch.where(swap_in, key - top_min, zero)))
    delta = torch.where(live, delta, zero)
    delta_top = torch.where(live, new_top - old_top, torch.zeros_like(new_top))
    leaf_in_top = (grow_take_new | swap_in) & live

    # Membership flips of the one element that moves between top and bottom.
    moved = torch.where(grow_promote & live, bottom_arg, torch.where(swap_in & live, top_arg, dummy))
    flip_index = (torch.arange(batch, device=device).unsqueeze(1) * extent_depths_total(state) + j) \
        * (dummy + 1) + moved
    state.in_top_t.view(-1).scatter_(0, flip_index.view(-1), grow_promote.view(-1))

    state.set_count.view(-1).scatter_(0, stat_index, new_count.view(-1))
    state.top_count.view(-1).scatter_(0, stat_index, (old_top + delta_top).view(-1))
    state.top_sum.view(-1).scatter_(0, stat_index, (old_sum + delta).view(-1))

    weight = lam_pow.index_select(0, rel_depth.view(-1)).view(batch, -1)
    node_index = (torch.arange(batch, device=device).unsqueeze(1) * (dummy + 1) + ancestors).view(-1)
    ws = state.weighted_sum.view(-1).index_select(0, node_index).view(batch, -1) + weight * delta
    wc = state.weighted_count.view(-1).index_select(0, node_index).view(batch, -1) + weight * delta_top.to(weight.dtype)
    state.weighted_sum.view(-1).scatter_(0, node_index, ws.view(-1))
    state.weighted_count.view(-1).scatter_(0, node_index, wc.view(-1))
    return leaf_in_top


def masked_extreme(state: TreeState, candidates: Tensor, extent_nodes: int, largest: bool) -> tuple[Tensor, Tensor]:
    """(key, node) of the largest/smallest candidate per (root, ancestor depth) [B, J];
    an empty set gives -inf/+inf (its index is then unused)."""
    keys = state.key[:, :extent_nodes].unsqueeze(1)
    fill = torch.full((), float("-inf") if largest else float("inf"), device=keys.device, dtype=keys.dtype)
    masked = torch.where(candidates, keys, fill)
    return masked.max(-1) if largest else masked.min(-1)


def extent_depths_total(state: TreeState) -> int:
    """Number of depth rows in the membership table (max_depth + 1)."""
    return state.in_top_t.shape[1]

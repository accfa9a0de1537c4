"""In-tree selection: pUCT with the min-max-normalised optimistic advantage (paper eq. 9).

Every node's best child depends only on that node's own statistics, which do not change during a
descent. So the best slot of *every* existing node is scored in one vectorised pass, and the
descent becomes pointer chasing on a "next node" table, done by pointer doubling in
ceil(log2(depth)) gathers. Unexpanded slots point back at their node (a fixed point), so the chase
stops at the first node whose best child is unexpanded.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .tree import TreeState


def advantage_bounds(state: TreeState, sim: Tensor, extent_nodes: int, delta: float) -> tuple[Tensor, Tensor]:
    """(low, scale) of the tree-wide advantages of expanded non-root nodes [B].

    Matches the reference's min-max set: with no such node yet the raw value is used (low=0,
    scale=1); otherwise scale = max(delta, max - min).
    """
    node_ids = torch.arange(extent_nodes, device=sim.device)
    counted = (node_ids >= 1) & (node_ids <= sim)
    adv = state.advantage[:, :extent_nodes]
    inf = torch.full((), float("inf"), device=adv.device, dtype=adv.dtype)
    low = torch.where(counted, adv, inf).amin(-1)
    high = torch.where(counted, adv, -inf).amax(-1)
    has_any = counted.any()
    low = torch.where(has_any, low, torch.zeros_like(low))
    scale = torch.where(has_any, (high - low).clamp(min=delta), torch.ones_like(low))
    return low, scale


def best_slots(state: TreeState, low: Tensor, scale: Tensor, c1: float, c2: float, extent_nodes: int) -> Tensor:
    """argmax over slots of pUCT for every node < extent_nodes [B, S].

    score = (log((n + c2 + 1)/c2) + c1) * sqrt(n) * prior / (1 + n_a) + clamp((A - low) / scale, 0, 1),
    with n = visits(node) - 1 and A = 0 for unvisited slots (the reference's normalize(0)).
    Empty slots score -inf.

    Random tie-break without a slow argmax: scores are >= 0, so their bit patterns order like
    integers; the low mantissa bits are replaced by the slot's random rank (a per-node random
    permutation drawn at expansion) and one integer amax picks the winner. Scores equal to within
    about 2**-(mantissa - rank_bits) relative (2e-6 for float32, K <= 16) are ties, broken uniformly.
    """
    parent_visits = (state.visits[:, :extent_nodes] - 1.0).clamp(min=0.0)
    pb_c = (torch.log((parent_visits + c2 + 1.0) / c2) + c1) * parent_visits.sqrt()
    prior_term = pb_c.unsqueeze(-1) * state.child_prior_over_visits[:, :extent_nodes]
    value_term = ((state.child_advantage[:, :extent_nodes] - low.view(-1, 1, 1)) / scale.view(-1, 1, 1)).clamp(0.0, 1.0)
    score = prior_term + value_term + state.child_tie[:, :extent_nodes]
    rank_mask = rank_bit_mask(state.child_action.shape[2])
    packed = (score.view(state.child_rank.dtype) & ~rank_mask) | state.child_rank[:, :extent_nodes]
    best_rank = packed.amax(-1, keepdim=True) & rank_mask
    return state.child_slot_of_rank[:, :extent_nodes].gather(2, best_rank.long()).squeeze(-1)


def rank_bit_mask(num_slots: int) -> int:
    """Low-bit mask wide enough to hold a slot rank in [0, num_slots)."""
    return (1 << max(1, math.ceil(math.log2(num_slots)))) - 1


def force_root_round_robin(best: Tensor, sim: Tensor, root_num_children: Tensor) -> Tensor:
    """The first #children simulations visit root slot `sim` (reference behaviour)."""
    forced = torch.where(sim < root_num_children, sim.expand_as(root_num_children), best[:, 0])
    return torch.cat([forced.unsqueeze(1), best[:, 1:]], dim=1)


def chase_to_leaf(state: TreeState, best: Tensor, extent_nodes: int, max_steps: int) -> Tensor:
    """Node where the descent from the root stops [B], by pointer doubling on next = child[best]."""
    next_node = state.child_node[:, :extent_nodes].gather(2, best.unsqueeze(-1)).squeeze(-1)
    for _ in range(doubling_rounds(max_steps)):
        next_node = next_node.gather(1, next_node)
    return next_node[:, 0]


def doubling_rounds(max_steps: int) -> int:
    """Rounds r with 2**r >= max_steps (the first gather already takes one step)."""
    return 0 if max_steps <= 1 else math.ceil(math.log2(max_steps))

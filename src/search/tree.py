"""Struct-of-arrays storage for B search trees with static shapes.

Node m (1 <= m <= N_sim) is created by simulation m-1 in every root at once, so a node index is
shared by the batch. Column ``dummy = N_sim + 1`` of every node axis is a write-only sink: masked
scatters go there instead of branching, which keeps a simulation free of host syncs.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass
class TreeState:
    """All per-search tensors. Shapes: B roots, M1 = N_sim + 2 node columns, K slots, D1 = max_depth + 1."""

    # per node [B, M1]
    parent: Tensor        # long, root and unused -> dummy
    slot: Tensor          # long, child slot in the parent
    depth: Tensor         # long, -1 = not created
    reward: Tensor        # reward on the edge into the node
    pred_value: Tensor    # model value v(node)
    disc_return: Tensor   # C(node): discounted reward sum from the root
    disc_pow: Tensor      # gamma ** depth
    key: Tensor           # C(node) + gamma**depth * v(node): root-relative path value
    weighted_sum: Tensor  # sum_d lam^d * (sum of top keys at relative depth d)
    weighted_count: Tensor  # sum_d lam^d * |top set at relative depth d|
    value: Tensor         # OS(lambda) value, read in O(1)
    advantage: Tensor     # r + gamma*V - v(parent)
    visits: Tensor        # expanded nodes in the subtree (float for arithmetic)
    is_revisit: Tensor    # bool, node duplicates a depth-capped leaf
    # ancestry and OS(lambda) membership [B, D1, M1]
    ancestor_t: Tensor    # int16 (long for huge trees), ancestor of node w at absolute depth j (dummy if j > depth(w))
    in_top_t: Tensor      # bool, w is in the top set of its depth-j ancestor
    # per (node, relative depth) [B, M1, D1]
    set_count: Tensor     # long, |U_d(u)|
    top_count: Tensor     # long, |U_d^rho(u)|
    top_sum: Tensor       # sum of the top keys
    # per child slot [B, M1, K]
    child_node: Tensor    # long, node index, or the parent itself while unexpanded
    child_action: Tensor  # int16 [B, M1, K, N]
    child_valid: Tensor   # bool
    child_prior: Tensor   # (beta_hat / beta) * pi
    child_prior_over_visits: Tensor  # prior / (1 + visits), kept for the pUCT term
    child_visits: Tensor
    child_q: Tensor       # r + gamma*V(child), 0 while unvisited
    child_advantage: Tensor  # Q - v(parent), 0 while unvisited (scores as normalize(0))
    child_tie: Tensor     # 0 for sampled slots, -inf for empty ones
    child_rank: Tensor    # int (same width as the value dtype), random tie-break rank of the slot
    child_slot_of_rank: Tensor  # long, inverse permutation of child_rank
    child_beta_hat: Tensor
    child_log_beta: Tensor
    child_log_pi: Tensor
    # latent pool [B, M1, N, H]
    latents: Tensor
    # root bookkeeping [B]
    root_num_children: Tensor

    @property
    def batch_size(self) -> int:
        return self.parent.shape[0]

    @property
    def dummy(self) -> int:
        return self.parent.shape[1] - 1


def allocate_tree(
    batch_size: int, num_simulations: int, num_slots: int, n_agents: int, hidden_shape: tuple[int, ...],
    max_depth: int, device: torch.device, value_dtype: torch.dtype, latent_dtype: torch.dtype,
) -> TreeState:
    """Empty tensors of the right shapes; call ``reset_tree`` before use."""
    b, m1, k, d1 = batch_size, num_simulations + 2, num_slots, max_depth + 1
    f = dict(device=device, dtype=value_dtype)
    lng = dict(device=device, dtype=torch.long)
    node_f = lambda: torch.empty(b, m1, **f)  # noqa: E731
    child_f = lambda: torch.empty(b, m1, k, **f)  # noqa: E731
    state = TreeState(
        parent=torch.empty(b, m1, **lng), slot=torch.empty(b, m1, **lng), depth=torch.empty(b, m1, **lng),
        reward=node_f(), pred_value=node_f(), disc_return=node_f(), disc_pow=node_f(), key=node_f(),

        weighted_sum=node_f(), weighted_count=node_f(), value=node_f(), advantage=node_f(), visits=node_f(),
        is_revisit=torch.empty(b, m1, device=device, dtype=torch.bool),
        ancestor_t=torch.empty(b, d1, m1, device=device, dtype=torch.int16 if m1 < 2**15 else torch.long), in_top_t=torch.empty(b, d1, m1, device=device, dtype=torch.bool),
        set_count=torch.empty(b, m1, d1, **lng), top_count=torch.empty(b, m1, d1, **lng),
        top_sum=torch.empty(b, m1, d1, **f),
        child_node=torch.empty(b, m1, k, **lng),
        child_action=torch.empty(b, m1, k, n_agents, device=device, dtype=torch.int16),
        child_valid=torch.empty(b, m1, k, device=device, dtype=torch.bool),
        child_prior=child_f(), child_prior_over_visits=child_f(), child_visits=child_f(), child_q=child_f(),
        child_advantage=child_f(), child_tie=child_f(),
        child_rank=torch.empty(b, m1, k, device=device, dtype=torch.int32 if value_dtype == torch.float32 else torch.int64),
        child_slot_of_rank=torch.empty(b, m1, k, **lng), child_beta_hat=child_f(), child_log_beta=child_f(),
        child_log_pi=child_f(),
        latents=torch.empty(b, m1, n_agents, *hidden_shape, device=device, dtype=latent_dtype),
        root_num_children=torch.empty(b, **lng),
    )
    reset_tree(state)
    return state


def reset_tree(state: TreeState) -> None:
    """In-place reset, so cached buffers (CUDA-graph inputs) keep their addresses."""
    dummy = state.dummy
    node_ids = torch.arange(state.parent.shape[1], device=state.parent.device)
    zero_fill = (
        "slot", "reward", "pred_value", "disc_return", "disc_pow", "key", "weighted_sum", "weighted_count",
        "value", "advantage", "visits", "set_count", "top_count", "top_sum", "child_action", "child_prior",
        "child_prior_over_visits", "child_visits", "child_q", "child_advantage", "child_beta_hat",
        "child_log_beta", "child_log_pi", "root_num_children", "child_rank", "child_slot_of_rank",
    )
    for name in zero_fill:
        getattr(state, name).zero_()
    state.parent.fill_(dummy)
    state.depth.fill_(-1)
    state.is_revisit.fill_(False)
    state.ancestor_t.fill_(dummy)
    state.in_top_t.fill_(False)
    state.child_node.copy_(node_ids.view(1, -1, 1).expand_as(state.child_node))
    state.child_valid.fill_(False)
    state.child_tie.fill_(float("-inf"))


def tree_nbytes(state: TreeState, include_latents: bool = False) -> int:
    """Bytes held by the search arrays (the latent pool is reported separately)."""
    total = 0
    for field in fields(state):
        if field.name == "latents" and not include_latents:
            continue
        tensor = getattr(state, field.name)
        total += tensor.numel() * tensor.element_size()
    return total


def write_column(table: Tensor, dim: int, node: Tensor | int, column: Tensor) -> None:
    """table[..., node, ...] = column along ``dim``. A Python int (eager search: a plain strided copy,
    cheaper than index_copy_ on CPU) or a [1] index tensor (CUDA-graph capture and compiled steps,
    where the node number must not be baked into the program)."""
    if isinstance(node, int):
        table.select(dim, node).copy_(column)
    else:
        table.index_copy_(dim, node, column.unsqueeze(dim))

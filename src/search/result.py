"""What a search returns: per-root statistics over the sampled joint actions, and the tree on request."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .tree import TreeState


@dataclass
class SearchTree:
    """The whole tree as arrays, nodes 0..N_sim (node 0 = root); for tests and debugging."""

    parent: Tensor          # long [B, M], -1 for the root
    slot: Tensor            # long [B, M], child slot in the parent
    depth: Tensor           # long [B, M]
    reward: Tensor          # [B, M], reward on the edge into the node (0 at the root)
    pred_value: Tensor      # [B, M], model value
    value: Tensor           # [B, M], OS(lambda) value
    visits: Tensor          # long [B, M], expanded nodes in the subtree, itself included
    is_revisit: Tensor      # bool [B, M], duplicate of a depth-capped leaf (see mcts.py)
    child_node: Tensor      # long [B, M, K], -1 while unexpanded
    child_action: Tensor    # long [B, M, K, N]
    child_valid: Tensor     # bool [B, M, K]
    child_visits: Tensor    # long [B, M, K]
    child_q: Tensor         # [B, M, K], r + gamma * V(child), 0 while unvisited
    child_prior: Tensor     # [B, M, K]
    child_beta_hat: Tensor  # [B, M, K]


@dataclass
class SearchResult:
    """Root statistics [B, K(, N)] over the distinct sampled joint actions; empty slots have valid=False."""

    joint_actions: Tensor    # long [B, K, N]
    valid: Tensor            # bool [B, K]
    visit_counts: Tensor     # long [B, K], sums to num_simulations
    q_values: Tensor         # [B, K], r + gamma * V(child) (0 if unvisited, as the reference)
    advantages: Tensor       # [B, K], eq. 8: Q - v_pred(root) (0 if unvisited)
    beta: Tensor             # [B, K], prod_i beta_i(a_i) (can underflow for many agents: see log_beta)
    log_beta: Tensor         # [B, K]
    beta_hat: Tensor         # [B, K], count / K
    prior: Tensor            # [B, K], (beta_hat / beta) * pi used by pUCT
    root_value: Tensor       # [B], OS(lambda) value of the root
    root_pred_value: Tensor  # [B], the model's value of the root
    root_policy_logits: Tensor | None = None  # [B, N, A], the model's prior at the root (unmasked)
    tree: SearchTree | None = None

    @property
    def search_policy(self) -> Tensor:
        """omega(a) = N(a) / sum N over the sampled joint actions [B, K]."""
        counts = self.visit_counts.float()
        return counts / counts.sum(-1, keepdim=True).clamp(min=1.0)


def read_result(state: TreeState, num_nodes: int, with_tree: bool) -> SearchResult:
    """Copy the root row (and optionally the tree) out of the search buffers."""
    visited = state.child_visits[:, 0] > 0
    zero = torch.zeros((), device=visited.device, dtype=state.child_q.dtype)
    result = SearchResult(
        joint_actions=state.child_action[:, 0].long(),
        valid=state.child_valid[:, 0].clone(),
        visit_counts=state.child_visits[:, 0].round().long(),
        q_values=torch.where(visited, state.child_q[:, 0], zero),
        advantages=torch.where(visited, state.child_advantage[:, 0], zero),
        beta=torch.exp(state.child_log_beta[:, 0]) * state.child_valid[:, 0],
        log_beta=state.child_log_beta[:, 0].clone(),
        beta_hat=state.child_beta_hat[:, 0].clone(),
        prior=state.child_prior[:, 0].clone(),
        root_value=state.value[:, 0].clone(),
        root_pred_value=state.pred_value[:, 0].clone(),
    )
    if with_tree:
        result.tree = read_tree(state, num_nodes)
    return result


def read_tree(state: TreeState, num_nodes: int) -> SearchTree:
    """Strip the dummy column and translate internal sentinels to -1."""
    n = num_nodes
    node_ids = torch.arange(n, device=state.parent.device)
    parent = state.parent[:, :n]
    child_node = state.child_node[:, :n]
    return SearchTree(
        parent=torch.where(parent == state.dummy, -1, parent),
        slot=state.slot[:, :n].clone(),
        depth=state.depth[:, :n].clone(),
        reward=state.reward[:, :n].clone(),
        pred_value=state.pred_value[:, :n].clone(),
        value=state.value[:, :n].clone(),
        visits=state.visits[:, :n].round().long(),
        is_revisit=state.is_revisit[:, :n].clone(),
        child_node=torch.where(child_node == node_ids.view(1, -1, 1), -1, child_node),
        child_action=state.child_action[:, :n].long(),
        child_valid=state.child_valid[:, :n].clone(),
        child_visits=state.child_visits[:, :n].round().long(),
        child_q=state.child_q[:, :n].clone(),
        child_prior=state.child_prior[:, :n].clone(),
        child_beta_hat=state.child_beta_hat[:, :n].clone(),
    )

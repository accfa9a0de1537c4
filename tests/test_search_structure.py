"""Structural invariants of the search tree and its outputs (reference notes, section 7)."""
from __future__ import annotations

import torch

from search import SampledMCTS, SearchConfig
from search_toys import LinearToyModel, brute_force_values
from search_toys import single_thread  # noqa: F401  (autouse fixture)

N, A, K = 3, 5, 8


def search(batch: int = 6, sims: int = 50, seed: int = 11, avail=None, **overrides):
    cfg = SearchConfig(**{"num_simulations": sims, "num_sampled_actions": K, "max_depth": 12, **overrides})
    model = LinearToyModel(N, A, seed=5)
    obs = torch.randn(batch, N, 5, generator=torch.Generator().manual_seed(2))
    avail = torch.ones(batch, N, A) if avail is None else avail
    result = SampledMCTS(cfg).search(model, obs, avail, torch.ones(batch, N, dtype=torch.bool),
                                     torch.Generator().manual_seed(seed), return_tree=True)
    return cfg, result


def test_visit_counts_are_consistent() -> None:
    cfg, result = search()
    tree = result.tree
    assert (result.visit_counts.sum(-1) == cfg.num_simulations).all()
    assert (tree.visits[:, 0] == cfg.num_simulations + 1).all()
    for b in range(tree.parent.shape[0]):
        from_children = torch.ones(tree.parent.shape[1], dtype=torch.long)
        per_slot = torch.zeros(tree.parent.shape[1], K, dtype=torch.long)
        for w in range(1, tree.parent.shape[1]):
            from_children[tree.parent[b, w]] += tree.visits[b, w]
            per_slot[tree.parent[b, w], tree.slot[b, w]] += tree.visits[b, w]
        assert torch.equal(tree.visits[b], from_children)
        assert torch.equal(tree.child_visits[b], per_slot)


def test_children_are_distinct_and_beta_hat_is_empirical() -> None:
    cfg, result = search()
    tree = result.tree
    n_children = tree.child_valid.sum(-1)
    assert ((n_children >= 1) & (n_children <= K)).all()
    # valid slots are packed at the front
    assert torch.equal(tree.child_valid, torch.arange(K).view(1, 1, -1) < n_children.unsqueeze(-1))
    torch.testing.assert_close(tree.child_beta_hat.sum(-1), torch.ones_like(tree.child_beta_hat[..., 0]))
    scaled = tree.child_beta_hat * K
    torch.testing.assert_close(scaled, scaled.round(), rtol=0, atol=1e-5)
    # with tau = 1 the Sampled MuZero prior (beta_hat / beta) * pi is beta_hat
    torch.testing.assert_close(tree.child_prior, tree.child_beta_hat)
    actions = tree.child_action
    same = (actions.unsqueeze(3) == actions.unsqueeze(2)).all(-1)
    both_valid = tree.child_valid.unsqueeze(3) & tree.child_valid.unsqueeze(2)
    assert not (same & both_valid & ~torch.eye(K, dtype=torch.bool)).any()


def test_round_robin_visits_every_root_child() -> None:
    _, result = search()
    assert ((result.visit_counts >= 1) == result.valid).all()


def test_root_respects_available_actions_and_dead_agents_noop() -> None:
    batch = 40
    g = torch.Generator().manual_seed(4)
    avail = (torch.rand(batch, N, A, generator=g) < 0.5).float()
    avail[..., 0] = torch.where(avail[..., 1:].sum(-1) == 0, 1.0, avail[..., 0])
    dead = torch.zeros(batch, N, dtype=torch.bool)
    dead[::3, 1] = True
    dead[1::4, 2] = True
    avail[dead] = 0.0
    avail[..., 0][dead] = 1.0                                  # only the no-op
    _, result = search(batch=batch, sims=20, avail=avail, use_noise=True)
    acts, valid = result.joint_actions, result.valid
    legal = avail.gather(2, acts.transpose(1, 2)).transpose(1, 2)  # [B, K, N]
    assert (legal[valid] == 1).all()
    dead_actions = acts.masked_select((dead.unsqueeze(1) & valid.unsqueeze(2)))
    assert (dead_actions == 0).all()


def test_agent_without_actions_is_searched_over_all_actions() -> None:
    avail = torch.ones(2, N, A)
    avail[0, 1] = 0
    cfg, result = search(batch=2, avail=avail)
    assert (result.visit_counts.sum(-1) == cfg.num_simulations).all()
    assert torch.isfinite(result.root_value).all()


def test_same_seed_same_search_other_seed_differs() -> None:
    _, first = search(seed=3)
    _, again = search(seed=3)
    _, other = search(seed=4)
    for name in ("parent", "child_action", "child_visits", "value"):
        assert torch.equal(getattr(first.tree, name), getattr(again.tree, name))
    assert torch.equal(first.visit_counts, again.visit_counts)
    assert not torch.equal(first.tree.child_action, other.tree.child_action)


def test_depth_cap_keeps_values_exact() -> None:
    cfg, result = search(sims=60, max_depth=2, rho=0.5, lam=0.9, value_dtype=torch.float64)
    tree = result.tree
    assert int(tree.depth.max()) <= 2
    assert tree.is_revisit.any()
    # a revisit duplicates a capped leaf: same parent/slot as the linked node, same reward and value
    for b, w in tree.is_revisit.nonzero().tolist():
        linked = int(tree.child_node[b, tree.parent[b, w], tree.slot[b, w]])
        assert linked >= 0 and not tree.is_revisit[b, linked] and tree.depth[b, linked] == 2
        assert tree.reward[b, w] == tree.reward[b, linked] and tree.pred_value[b, w] == tree.pred_value[b, linked]
    assert (result.visit_counts.sum(-1) == cfg.num_simulations).all()
    for b in range(tree.parent.shape[0]):
        expected = torch.tensor(brute_force_values(tree, b, cfg.rho, cfg.lam, cfg.discount), dtype=torch.float64)
        torch.testing.assert_close(tree.value[b], expected, rtol=0, atol=1e-9)


def test_large_cap_never_revisits() -> None:
    _, result = search(sims=30, max_depth=30)
    assert not result.tree.is_revisit.any()


def test_child_order_does_not_follow_action_index() -> None:
    """With a uniform prior, the joint action in root slot 0 is uniform over the joint space."""
    batch = 1200
    cfg = SearchConfig(num_simulations=1, num_sampled_actions=4, use_noise=False)

    class Uniform(LinearToyModel):
        def _heads(self, latent, reward):
            out = super()._heads(latent, reward)
            out.policy_logits = torch.zeros_like(out.policy_logits)
            return out

    model = Uniform(2, 3)
    result = SampledMCTS(cfg).search(model, torch.randn(batch, 2, 5), torch.ones(batch, 2, 3),
                                     torch.ones(batch, 2, dtype=torch.bool), torch.Generator().manual_seed(0))
    codes = result.joint_actions[:, 0, 0] * 3 + result.joint_actions[:, 0, 1]
    freq = torch.bincount(codes, minlength=9).float() / batch
    assert (freq - 1 / 9).abs().max() < 0.04


def test_bf16_latent_pool_and_autocast_run() -> None:
    cfg, result = search(sims=20, latent_dtype=torch.bfloat16, autocast_bf16=True)
    assert (result.visit_counts.sum(-1) == cfg.num_simulations).all()
    assert torch.isfinite(result.root_value).all()


def test_add_noise_false_overrides_config() -> None:
    _, off = search(sims=20, use_noise=False, seed=1)
    _, overridden = search_override(seed=1)
    assert torch.equal(off.tree.child_action, overridden.tree.child_action)
    assert torch.equal(off.visit_counts, overridden.visit_counts)


def search_override(seed: int):
    cfg = SearchConfig(num_simulations=20, num_sampled_actions=K, max_depth=12, use_noise=True)
    model = LinearToyModel(N, A, seed=5)
    obs = torch.randn(6, N, 5, generator=torch.Generator().manual_seed(2))
    result = SampledMCTS(cfg).search(model, obs, torch.ones(6, N, A), torch.ones(6, N, dtype=torch.bool),
                                     torch.Generator().manual_seed(seed), add_noise=False, return_tree=True)
    return cfg, result


def test_static_graph_step_equals_trimmed_step() -> None:
    """use_cuda_graph on CPU runs the capture-shaped step (full extents) eagerly: same search."""
    _, trimmed = search(sims=30, seed=9)
    _, static = search(sims=30, seed=9, use_cuda_graph=True)
    for name in ("parent", "slot", "child_action", "child_visits", "visits"):
        assert torch.equal(getattr(trimmed.tree, name), getattr(static.tree, name))
    torch.testing.assert_close(trimmed.tree.value, static.tree.value)


def test_tree_threads_are_restored() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # not the tree's count, so a lost caller count shows
    try:
        _, a = search(sims=10, seed=2, tree_threads=1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    _, b = search(sims=10, seed=2)
    assert torch.equal(a.visit_counts, b.visit_counts)

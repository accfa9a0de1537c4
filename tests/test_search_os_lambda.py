"""OS(lambda) values in the search tree against independent recomputations of paper eqs. 5-7."""
from __future__ import annotations

import pytest
import torch

from search import SampledMCTS, SearchConfig
from search.os_lambda import top_set_sizes
from search_toys import LinearToyModel, brute_force_values
from search_toys import single_thread  # noqa: F401  (autouse fixture)

B, N, A = 3, 3, 4


def run_tree(**overrides):
    cfg = SearchConfig(**{"num_simulations": 40, "num_sampled_actions": 6, "value_dtype": torch.float64,
                          "max_depth": 40, **overrides})
    model = LinearToyModel(N, A, seed=3)
    obs = torch.randn(B, N, 5, generator=torch.Generator().manual_seed(1))
    result = SampledMCTS(cfg).search(model, obs, torch.ones(B, N, A), torch.ones(B, N, dtype=torch.bool),
                                     torch.Generator().manual_seed(7), return_tree=True)
    return cfg, result


@pytest.mark.parametrize("rho,lam", [(0.0, 1.0), (0.75, 0.8), (0.25, 0.8), (0.75, 0.0), (1.0, 0.8),
                                     (0.65, 0.9), (0.5, 1.0)])
def test_every_node_matches_brute_force(rho: float, lam: float) -> None:
    cfg, result = run_tree(rho=rho, lam=lam)
    for b in range(B):
        expected = torch.tensor(brute_force_values(result.tree, b, rho, lam, cfg.discount), dtype=torch.float64)
        torch.testing.assert_close(result.tree.value[b], expected, rtol=0, atol=1e-9)


def test_float32_values_close_to_brute_force() -> None:
    cfg, result = run_tree(value_dtype=torch.float32)
    for b in range(B):
        expected = torch.tensor(brute_force_values(result.tree, b, cfg.rho, cfg.lam, cfg.discount))
        torch.testing.assert_close(result.tree.value[b].double(), expected.double(), rtol=1e-5, atol=1e-5)


def test_rho0_lambda1_is_muzero_mean() -> None:
    """value_sum(u) = v(u) + sum_c [visits(c) r(c) + gamma value_sum(c)], V = value_sum / visits."""
    cfg, result = run_tree(rho=0.0, lam=1.0)
    tree = result.tree
    for b in range(B):
        parent, n = tree.parent[b].tolist(), tree.parent.shape[1]
        value_sum = tree.pred_value[b].double().clone()
        for w in sorted(range(1, n), key=lambda x: -int(tree.depth[b, x])):   # deepest first
            p = parent[w]
            value_sum[p] += tree.visits[b, w] * tree.reward[b, w] + cfg.discount * value_sum[w]
        torch.testing.assert_close(tree.value[b], value_sum / tree.visits[b].double(), rtol=0, atol=1e-9)


def test_lambda0_is_one_step_lookahead() -> None:
    cfg, result = run_tree(lam=0.0)
    tree = result.tree
    torch.testing.assert_close(tree.value, tree.pred_value)
    root_children = tree.child_node[:, 0]
    for b in range(B):
        for k in range(root_children.shape[1]):
            c = int(root_children[b, k])
            if c >= 0:
                expected = tree.reward[b, c] + cfg.discount * tree.pred_value[b, c]
                torch.testing.assert_close(result.q_values[b, k], expected)


def test_rho1_is_top1_per_depth() -> None:
    cfg, result = run_tree(rho=1.0, lam=0.8)
    tree = result.tree
    for b in range(B):
        best: dict[int, float] = {}
        for w in range(tree.parent.shape[1]):
            ret, x, d = float(tree.pred_value[b, w]), w, 0
            while x != 0:
                ret = float(tree.reward[b, x]) + cfg.discount * ret
                x, d = int(tree.parent[b, x]), d + 1
            best[d] = max(best.get(d, float("-inf")), ret)
        expected = sum(0.8**d * v for d, v in best.items()) / sum(0.8**d for d in best)
        assert abs(float(tree.value[b, 0]) - expected) < 1e-9


def test_root_value_and_q_are_read_from_the_tree() -> None:
    cfg, result = run_tree()
    tree = result.tree
    torch.testing.assert_close(result.root_value, tree.value[:, 0])
    torch.testing.assert_close(result.root_pred_value, tree.pred_value[:, 0])
    visited = result.visit_counts > 0
    expected_adv = result.q_values - result.root_pred_value.unsqueeze(1)
    torch.testing.assert_close(result.advantages[visited], expected_adv[visited])


def test_top_set_sizes_are_exact() -> None:
    sizes = top_set_sizes(0.65, 40, torch.device("cpu"))
    assert int(sizes[20]) == 7            # float ceil(20 * 0.35) gives 8
    assert int(sizes[1]) == 1 and int(sizes[0]) == 0
    assert top_set_sizes(1.0, 5, torch.device("cpu")).tolist() == [0, 1, 1, 1, 1, 1]
    assert top_set_sizes(0.0, 5, torch.device("cpu")).tolist() == [0, 1, 2, 3, 4, 5]

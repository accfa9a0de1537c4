"""Sampling and duplicate merging in isolation."""
from __future__ import annotations

import pytest
import torch

from search import SearchConfig
from search.sampling import inverse_cdf_sample, merge_duplicates, root_distributions, sample_children
from search_toys import single_thread  # noqa: F401  (autouse fixture)


def test_inverse_cdf_never_draws_zero_mass_actions() -> None:
    probs = torch.tensor([[[0.0, 0.3, 0.0, 0.7, 0.0]], [[0.0, 0.0, 0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0, 0.0, 0.0]]])
    uniforms = torch.tensor([0.0, 0.3, 0.2999999, 1.0 - 2**-24]).expand(3, 1, 4).contiguous()
    draws = inverse_cdf_sample(probs, uniforms)
    assert draws[0].tolist() == [[1, 3, 1, 3]]
    assert (draws[1] == 4).all() and (draws[2] == 0).all()


def test_merge_duplicates_keeps_draw_order() -> None:
    draws = torch.tensor([[[2, 1], [0, 0], [2, 1], [1, 1], [0, 0], [2, 1]]])
    order, counts, unique = merge_duplicates(draws, 3)
    assert unique.tolist() == [3]
    assert order[0, :3].tolist() == [0, 1, 3]
    assert counts[0].tolist() == [3, 2, 3, 1, 2, 3]


def test_sample_children_frequencies_match_the_product_distribution() -> None:
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(1, 2, 3, generator=g), -1).expand(20000, 2, 3).contiguous()
    children = sample_children(probs, probs, torch.rand(20000, 2, 1, generator=g))
    codes = children.actions[:, 0, 0] * 3 + children.actions[:, 0, 1]
    freq = torch.bincount(codes, minlength=9).float() / 20000
    expected = (probs[0, 0].unsqueeze(1) * probs[0, 1].unsqueeze(0)).flatten()
    torch.testing.assert_close(freq, expected, atol=0.015, rtol=0)
    torch.testing.assert_close(children.log_beta[:, 0].exp(), expected[codes])


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        SearchConfig(rho=1.5)
    with pytest.raises(ValueError):
        SearchConfig(max_depth=0)


def test_tempered_root_sampling_draws_from_pi_to_the_one_over_tau_and_corrects_the_prior() -> None:
    """beta = pi^(1/tau) renormalised (closed form); children follow prod_i beta_i and carry
    Sampled MuZero's prior (beta_hat / beta) * pi."""
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(1, 2, 3, generator=g)
    legal = torch.ones(1, 2, 3)
    pi, beta = root_distributions(logits, legal, None, 0.25, 0.0, temperature=0.25)
    expected_pi = torch.softmax(logits, -1)
    torch.testing.assert_close(pi, expected_pi)
    torch.testing.assert_close(beta, expected_pi ** 4 / (expected_pi ** 4).sum(-1, keepdim=True))
    n = 20000
    children = sample_children(pi.expand(n, 2, 3).contiguous(), beta.expand(n, 2, 3).contiguous(),
                               torch.rand(n, 2, 1, generator=g))
    codes = children.actions[:, 0, 0] * 3 + children.actions[:, 0, 1]
    joint_beta = (beta[0, 0].unsqueeze(1) * beta[0, 1].unsqueeze(0)).flatten()
    joint_pi = (pi[0, 0].unsqueeze(1) * pi[0, 1].unsqueeze(0)).flatten()
    torch.testing.assert_close(torch.bincount(codes, minlength=9).float() / n, joint_beta, atol=0.015, rtol=0)
    # one draw per root: beta_hat = 1, so the prior is pi / beta of the drawn joint action
    torch.testing.assert_close(children.prior[:, 0], joint_pi[codes] / joint_beta[codes])

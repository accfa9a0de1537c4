"""The bandit of paper Figure 1 / appendix B.4: targets, losses and gradients against closed forms."""
import itertools

import numpy as np
import pytest

from tools import bandit


def test_expected_target_enumerates_every_sampled_pair():
    pi = bandit.softmax(np.random.default_rng(1).normal(size=7))
    expected = np.zeros(7)
    for a, b in itertools.product(range(7), repeat=2):  # B = 2 draws with replacement
        expected[max(a, b)] += pi[a] * pi[b]
    np.testing.assert_allclose(bandit.expected_target(pi), expected, atol=1e-12)


def test_uniform_policy_closed_forms():
    theta = np.zeros(100)
    a = np.arange(100)
    t = ((a + 1) ** 2 - a**2) / 100**2  # P(best of two uniform draws = a) = (2a + 1) / 10^4
    np.testing.assert_allclose(bandit.expected_target(bandit.softmax(theta)), t)
    adv = (a - 99 / 2) * np.sqrt(3 / 2525)
    np.testing.assert_allclose(bandit.advantage(), adv)
    assert bandit.loss(theta, "bc") == pytest.approx(np.log(100))
    assert bandit.loss(theta, "awpo") == pytest.approx(np.log(100) * np.sum(t * np.exp(adv)))
    np.testing.assert_allclose(bandit.grad(theta, "bc"), 1 / 100 - t)
    np.testing.assert_allclose(bandit.grad(theta, "awpo"), np.sum(t * np.exp(adv)) / 100 - t * np.exp(adv))


@pytest.mark.parametrize("method", ["bc", "awpo"])
def test_gradient_is_the_stop_gradient_derivative(method):
    theta = np.random.default_rng(2).normal(size=100)
    w = bandit.weights(theta, method)
    eps = 1e-6
    numeric = np.array([(-(w * bandit.log_softmax(theta + eps * e)).sum() + (w * bandit.log_softmax(theta - eps * e)).sum())
                        / (2 * eps) for e in np.eye(100)])
    np.testing.assert_allclose(bandit.grad(theta, method), numeric, atol=1e-6)


def test_awpo_converges_faster_than_bc():
    theta0 = np.random.default_rng(0).normal(scale=0.01, size=100)
    bc = bandit.train(theta0, "bc", 400, 1.0)
    awpo = bandit.train(theta0, "awpo", 400, 1.0)
    assert bc["expected_value"][0] == awpo["expected_value"][0]
    fast, slow = bandit.steps_to(awpo["expected_value"], 95), bandit.steps_to(bc["expected_value"], 95)
    assert fast is not None and slow is not None and fast * 3 < slow
    assert awpo["p_best"][-1] > 0.99 and bc["p_best"][-1] > 0.99

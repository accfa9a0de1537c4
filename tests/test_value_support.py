"""h(x), its inverse, the two-hot encoding and the categorical decoding (reference invariants 17-18)."""
import math

import pytest
import torch

from utils.value_support import (
    categorical_expectation,
    categorical_to_scalar,
    inverse_scalar_transform,
    scalar_to_categorical,
    scalar_transform,
    support_values,
    two_hot,
)


def h_by_hand(x: float, eps: float = 1e-3) -> float:
    return math.copysign(math.sqrt(abs(x) + 1) - 1, x) + eps * x


@pytest.mark.parametrize("x", [-300.0, -20.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 1.0, 3.0, 20.0, 300.0])
def test_h_matches_the_formula(x):
    assert scalar_transform(torch.tensor(x, dtype=torch.float64)).item() == pytest.approx(h_by_hand(x), abs=1e-12)


def test_h_of_20_is_about_3_6():
    """The reference scales SMAC returns to at most 20, and h(20) = 3.60 fits the [-5, 5] support."""
    assert scalar_transform(torch.tensor(20.0)).item() == pytest.approx(3.6026, abs=1e-3)


def test_inverse_round_trips_in_both_precisions():
    x = torch.linspace(-300, 300, 100_001, dtype=torch.float64)
    assert torch.allclose(inverse_scalar_transform(scalar_transform(x)), x, rtol=0, atol=1e-9)
    y = torch.linspace(-20, 20, 10_001, dtype=torch.float64)
    assert torch.allclose(scalar_transform(inverse_scalar_transform(y)), y, rtol=0, atol=1e-9)
    x32 = x.float()
    error = (inverse_scalar_transform(scalar_transform(x32)) - x32).abs()
    assert bool((error <= 1e-4 + 2e-6 * x32.abs()).all())


def test_inverse_is_exactly_zero_at_zero_and_accurate_near_zero():
    assert inverse_scalar_transform(torch.tensor(0.0)).item() == 0.0
    tiny = torch.tensor([1e-6, -1e-6], dtype=torch.float32)
    expected = tiny.double() / (0.5 + 1e-3)  # h'(0) = 1/2 + eps
    assert torch.allclose(inverse_scalar_transform(tiny).double(), expected, rtol=1e-4)


@pytest.mark.parametrize("support_size", [1, 5, 10])
def test_two_hot_of_every_integer_bin_is_one_hot(support_size):
    """The reference's `_phi` returns all zeros here; ours puts all the mass on the bin."""
    bins = support_values(support_size)
    target = two_hot(bins, support_size)
    assert torch.equal(target, torch.eye(2 * support_size + 1))


def test_two_hot_round_trips_random_reals_and_clamps():
    generator = torch.Generator().manual_seed(0)
    y = (torch.rand(10_000, generator=generator) - 0.5) * 16  # covers [-8, 8], beyond the support
    target = two_hot(y, 5)
    assert torch.allclose(target.sum(-1), torch.ones(10_000))
    assert bool((target >= 0).all())
    assert bool(((target > 0).sum(-1) <= 2).all())
    expectation = (target * support_values(5)).sum(-1)
    assert torch.allclose(expectation, y.clamp(-5, 5), atol=1e-5)


def test_two_hot_hand_example():
    target = two_hot(torch.tensor([-0.25, 2.75]), 2)
    assert torch.allclose(target, torch.tensor([[0, 0.25, 0.75, 0, 0], [0, 0, 0, 0, 1.0]]))
    target = two_hot(torch.tensor([1.25]), 2)
    assert torch.allclose(target, torch.tensor([[0, 0, 0, 0.75, 0.25]]))


def test_scalar_to_categorical_then_decode_round_trips_inside_the_support():
    raw = torch.tensor([0.0, 1.0, -1.0, 3.0, 8.0, 20.0, -20.0, 34.0])  # h(34.99) ~ 5
    target = scalar_to_categorical(raw, 5)
    assert target[0, 5] == 1.0  # zero reward: all the mass on the centre bin, never all-zero
    decoded = inverse_scalar_transform(categorical_expectation(target.log(), 5))
    assert torch.allclose(decoded, raw, atol=1e-3, rtol=1e-5)


def test_decode_of_uniform_logits_is_zero_and_shape_is_checked():
    """Zero-initialised heads start at E[value] = E[reward] = 0 (reference invariant 18)."""
    assert torch.allclose(categorical_to_scalar(torch.zeros(4, 11), 5), torch.zeros(4), atol=1e-6)
    with pytest.raises(ValueError):
        categorical_to_scalar(torch.zeros(4, 10), 5)


def test_decode_is_fp32_even_for_half_logits():
    logits = torch.tensor([[30.0] + [0.0] * 10]).half()
    value = categorical_to_scalar(logits, 5)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(inverse_scalar_transform(torch.tensor(-5.0)).item(), rel=1e-5)

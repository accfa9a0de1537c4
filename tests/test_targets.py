"""Each return estimator against a brute-force forward-view Python loop, with padding and terminals."""

import pytest
import torch
import torch.nn as nn

from learners.targets import (gae_advantages, lambda_returns, masked_mean, nstep_returns, soft_update,
                              standardise, update_moments, update_targets, valid_transition_mask)


def make_batch(lengths, terminal, slots, x=2, seed=0):
    """Episodes with `lengths` real transitions in a window of `slots` transitions (slots+1 batch slots)."""
    g = torch.Generator().manual_seed(seed)
    b = len(lengths)
    filled = torch.zeros(b, slots + 1, 1)
    term_full = torch.zeros(b, slots + 1, 1)
    for i, (n, done) in enumerate(zip(lengths, terminal)):
        filled[i, : n + 1] = 1  # n transitions + the final observation slot
        if done:
            term_full[i, n - 1] = 1
    rewards = torch.randn(b, slots, 1, generator=g) * filled[:, :-1]
    values = torch.randn(b, slots + 1, x, generator=g)
    mask = valid_transition_mask(filled, term_full)
    return rewards, term_full[:, :-1], mask, values


def brute_nstep(r, d, v, t, n, length, gamma):
    """Sum of up to n rewards, stopping at the episode end; bootstrap unless the stop is terminal."""
    total, k = 0.0, 0
    while True:
        total += gamma**k * r[t + k]
        if d[t + k]:
            return total
        k += 1
        if k == n or t + k == length:
            return total + gamma**k * v[t + k]


def brute_lambda(r, d, v, t, lam, length, gamma):
    """Forward view: (1-lam) sum_n lam^(n-1) G^(n) + lam^(L-t-1) G^(L-t)."""
    horizon = length - t
    total = sum((1 - lam) * lam ** (n - 1) * brute_nstep(r, d, v, t, n, length, gamma) for n in range(1, horizon))
    return total + lam ** (horizon - 1) * brute_nstep(r, d, v, t, horizon, length, gamma)


CASES = [([5, 3, 7], [True, False, True]), ([7, 7, 2], [False, True, False])]


@pytest.mark.parametrize("lengths,terminal", CASES)
@pytest.mark.parametrize("lam", [0.0, 0.6, 1.0])
def test_lambda_returns_match_forward_view(lengths, terminal, lam):
    gamma, slots = 0.9, 7
    rewards, term, mask, values = make_batch(lengths, terminal, slots)
    out = lambda_returns(rewards, term, mask, values, gamma, lam)
    for i, n in enumerate(lengths):
        for j in range(values.shape[-1]):
            r, d, v = rewards[i, :, 0].tolist(), term[i, :, 0].tolist(), values[i, :, j].tolist()
            for t in range(n):
                assert mask[i, t, 0] == 1
                assert out[i, t, j].item() == pytest.approx(brute_lambda(r, d, v, t, lam, n, gamma), abs=1e-5)
        assert mask[i, n:].sum() == 0


@pytest.mark.parametrize("lengths,terminal", CASES)
@pytest.mark.parametrize("n_step", [1, 3, 10])
def test_nstep_returns_match_loop(lengths, terminal, n_step):
    gamma, slots = 0.95, 7
    rewards, term, mask, values = make_batch(lengths, terminal, slots, seed=1)
    out = nstep_returns(rewards, term, mask, values, gamma, n_step)
    for i, n in enumerate(lengths):
        for j in range(values.shape[-1]):
            r, d, v = rewards[i, :, 0].tolist(), term[i, :, 0].tolist(), values[i, :, j].tolist()
            for t in range(n):
                assert out[i, t, j].item() == pytest.approx(brute_nstep(r, d, v, t, n_step, n, gamma), abs=1e-5)


def test_gae_matches_delta_recursion():
    gamma, lam, slots = 0.99, 0.95, 7
    lengths, terminal = [5, 7, 3], [True, False, False]
    rewards, term, mask, values = make_batch(lengths, terminal, slots, seed=2)
    out = gae_advantages(rewards, term, mask, values, gamma, lam)
    for i, n in enumerate(lengths):
        for j in range(values.shape[-1]):
            adv = 0.0
            for t in reversed(range(n)):
                not_done = 1.0 - term[i, t, 0].item()
                delta = rewards[i, t, 0].item() + gamma * not_done * values[i, t + 1, j].item() - values[i, t, j].item()
                adv = delta + (gamma * lam * not_done * adv if t + 1 < n else 0.0)
                assert out[i, t, j].item() == pytest.approx(adv, abs=1e-5)


def test_one_step_target_has_no_bootstrap_after_terminal():
    rewards, term, mask, values = make_batch([3], [True], 3, x=1)
    out = lambda_returns(rewards, term, mask, values, 0.99, 0.0)
    assert out[0, 2, 0].item() == pytest.approx(rewards[0, 2, 0].item())


def test_valid_mask_and_masked_mean():
    filled = torch.tensor([[1, 1, 1, 1, 0]], dtype=torch.long).view(1, 5, 1)
    term = torch.tensor([[0, 0, 1, 0, 0]], dtype=torch.uint8).view(1, 5, 1)
    mask = valid_transition_mask(filled, term)
    assert mask.view(-1).tolist() == [1, 1, 1, 0]
    x = torch.tensor([1.0, 2.0, 3.0, 100.0]).view(1, 4, 1)
    assert masked_mean(x, mask).item() == pytest.approx(2.0)
    assert masked_mean(x, torch.zeros_like(mask)).item() == 0.0


def test_running_moments_match_full_data():
    data = [torch.randn(4, 6, 1) for _ in range(3)]
    masks = [(torch.rand(4, 6, 1) > 0.3).float() for _ in range(3)]
    moments = torch.tensor([0.0, 1.0, 0.0])
    for x, m in zip(data, masks):
        moments = update_moments(moments, x, m)
    flat = torch.cat([x[m.bool()] for x, m in zip(data, masks)])
    assert moments[0].item() == pytest.approx(flat.mean().item(), abs=1e-5)
    assert moments[1].item() == pytest.approx(flat.var(unbiased=False).item(), abs=1e-5)
    assert standardise(flat, moments).mean().item() == pytest.approx(0.0, abs=1e-4)


def test_target_update_schedules():
    src, tgt = nn.Linear(2, 2), nn.Linear(2, 2)
    before = tgt.weight.detach().clone()
    last = update_targets([(tgt, src)], "hard", 200, 0.01, episode=199, last_update_episode=0)
    assert last == 0 and torch.equal(tgt.weight, before)
    last = update_targets([(tgt, src)], "hard", 200, 0.01, episode=200, last_update_episode=0)
    assert last == 200 and torch.equal(tgt.weight, src.weight)
    tgt2 = nn.Linear(2, 2)
    expected = 0.9 * tgt2.weight.detach() + 0.1 * src.weight.detach()
    soft_update(tgt2, src, 0.1)
    assert torch.allclose(tgt2.weight, expected)


def test_choice_mask_drops_single_action_steps_and_invalid_steps():
    from learners.targets import choice_mask
    avail = torch.tensor([[[[1, 1, 0], [0, 1, 0]], [[0, 0, 1], [1, 1, 1]]]])  # [B=1, T=2, N=2, A=3]
    mask = torch.tensor([[[1.0], [0.0]]])                                      # step 1 is padding
    assert choice_mask(avail, mask).tolist() == [[[1.0, 0.0], [0.0, 0.0]]]

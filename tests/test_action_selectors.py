"""Action selectors: masks are respected, the epsilon schedule follows t_env, ties are broken at random."""
from types import SimpleNamespace

import torch

from components.action_selectors import REGISTRY, random_argmax
from components.schedules import LinearDecayThenFlat


def selector_args(**kw):
    base = dict(seed=0, epsilon_start=1.0, epsilon_finish=0.05, epsilon_anneal_time=100,
                test_greedy=True, evaluation_epsilon=0.0)
    return SimpleNamespace(**{**base, **kw})


def random_avail(b=64, n=3, a=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    avail = (torch.rand(b, n, a, generator=g) > 0.5).int()
    avail[..., 0] |= (avail.sum(-1) == 0).int()  # at least one action each
    return avail


def test_schedule_decays_linearly_then_flat():
    s = LinearDecayThenFlat(1.0, 0.05, 100)
    assert s(0) == 1.0 and abs(s(50) - 0.525) < 1e-9 and s(100) == 0.05 and s(10_000) == 0.05
    assert LinearDecayThenFlat(1.0, 0.1, 0)(0) == 0.1


def test_epsilon_greedy_schedule_and_test_mode():
    sel = REGISTRY["epsilon_greedy"](selector_args())
    q, avail = torch.randn(4, 2, 3), torch.ones(4, 2, 3, dtype=torch.int)
    sel.select_action(q, avail, t_env=50)
    assert abs(sel.epsilon - 0.525) < 1e-9
    sel.select_action(q, avail, t_env=50, test_mode=True)
    assert sel.epsilon == 0.0


def test_selectors_never_pick_unavailable_actions():
    avail = random_avail()
    outputs = {"epsilon_greedy": torch.randn(64, 3, 6) * 10, "soft_epsilon_greedy": torch.randn(64, 3, 6) * 10,
               "soft_policies": torch.softmax(torch.randn(64, 3, 6), -1),
               "multinomial": torch.softmax(torch.randn(64, 3, 6), -1)}
    for name, cls in REGISTRY.items():
        sel = cls(selector_args())
        for t_env in (0, 50, 1000):
            for test_mode in (False, True):
                actions = sel.select_action(outputs[name], avail, t_env, test_mode=test_mode)
                assert actions.shape == (64, 3) and actions.dtype == torch.long
                assert avail.gather(-1, actions.unsqueeze(-1)).all(), name


def test_greedy_is_greedy_over_available():
    q = torch.tensor([[[5.0, 1.0, 2.0, 3.0]]]).expand(50, 1, 4)
    avail = torch.tensor([[[0, 1, 1, 1]]]).expand(50, 1, 4)
    sel = REGISTRY["epsilon_greedy"](selector_args(epsilon_start=0.0, epsilon_finish=0.0))
    assert (sel.select_action(q, avail, 0) == 3).all()


def test_ties_are_broken_uniformly_at_random():
    """With all-equal Q-values the greedy pick is spread over the available actions, not index 0."""
    q = torch.zeros(3000, 1, 5)
    avail = torch.tensor([1, 0, 1, 1, 0]).expand(3000, 1, 5)
    sel = REGISTRY["epsilon_greedy"](selector_args(epsilon_start=0.0, epsilon_finish=0.0))
    picks = sel.select_action(q, avail, 0, test_mode=True).view(-1)
    counts = torch.bincount(picks, minlength=5).float() / picks.numel()
    assert counts[1] == 0 and counts[4] == 0
    for a in (0, 2, 3):
        assert abs(counts[a].item() - 1 / 3) < 0.05
    probs = torch.full((3000, 1, 5), 0.2)
    greedy = REGISTRY["soft_policies"](selector_args()).select_action(probs, avail, 0, test_mode=True).view(-1)
    assert torch.bincount(greedy, minlength=5)[[0, 2, 3]].min() > 800


def test_random_argmax_handles_rows_without_available_actions():
    g = torch.Generator().manual_seed(0)
    out = random_argmax(torch.randn(2, 4), torch.zeros(2, 4, dtype=torch.int), g)
    assert out.shape == (2,)


def test_selector_rng_is_reproducible():
    q, avail = torch.zeros(8, 3, 4), torch.ones(8, 3, 4, dtype=torch.int)
    a, b = REGISTRY["epsilon_greedy"](selector_args()), REGISTRY["epsilon_greedy"](selector_args())
    state = a.generator.get_state()
    first = a.select_action(q, avail, 10)
    assert torch.equal(first, b.select_action(q, avail, 10))
    a.generator.set_state(state)
    assert torch.equal(first, a.select_action(q, avail, 10))

"""MAZero losses and targets against hand-computed values and brute-force loops."""
import itertools
import math

import pytest
import torch

from learners.mazero_losses import (
    awpo_policy_loss,
    awpo_target,
    awpo_weights,
    bc_policy_loss,
    categorical_cross_entropy,
    joint_log_prob,
    n_step_value_targets,
    negative_cosine_similarity,
    off_policy_td_steps,
    scale_gradient,
    standardise_advantages,
    value_priorities,
)


def random_policy_problem(seed: int, batch: int = 4, slots: int = 6, agents: int = 3, actions: int = 4):
    """Random logits, sampled joint actions, a search policy normalised over the valid slots."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, agents, actions, generator=generator, dtype=torch.float64)
    joint_actions = torch.randint(0, actions, (batch, slots, agents), generator=generator)
    action_mask = torch.rand(batch, slots, generator=generator) < 0.7
    action_mask[:, 0] = True
    omega = torch.rand(batch, slots, generator=generator, dtype=torch.float64) * action_mask
    omega = omega / omega.sum(-1, keepdim=True)
    advantages = torch.randn(batch, slots, generator=generator, dtype=torch.float64)
    return logits, joint_actions, omega, action_mask, advantages


def marginals_of(joint_actions, omega, action_mask, n_actions):
    """Per-agent marginals of the search policy: m_i(b) = sum_a omega(a) [a_i = b] -> [..., N, A]."""
    one_hot = torch.nn.functional.one_hot(joint_actions.long(), n_actions).float()  # [..., M, N, A]
    slot_weight = torch.where(action_mask.bool(), omega.float(), 0.0)  # [..., M]
    return (one_hot * slot_weight[..., None, None]).sum(-3)


def per_agent_cross_entropy(logits, marginals):
    """sum_i CE(marginal_i, pi_i) -> [...]: the factorised form of the BC loss."""
    return categorical_cross_entropy(logits, marginals).sum(-1)


def brute_force_weighted_loss(logits, joint_actions, omega, action_mask, weights, agent_mask=None):
    """Loop form of -sum_a omega(a) w(a) sum_i log pi_i(a_i)."""
    batch, slots, agents = joint_actions.shape
    losses = []
    for b in range(batch):
        total = 0.0
        for m in range(slots):
            if not action_mask[b, m]:
                continue
            log_pi = 0.0
            for i in range(agents):
                if agent_mask is not None and not agent_mask[b, i]:
                    continue
                log_pi += math.log(torch.softmax(logits[b, i], -1)[joint_actions[b, m, i]].item())
            total -= omega[b, m].item() * weights[b][m] * log_pi
        losses.append(total)
    return torch.tensor(losses, dtype=torch.float64)


# -- reward / value / consistency ------------------------------------------------------------

def test_categorical_cross_entropy_by_hand():
    logits = torch.tensor([[0.0, math.log(2.0)]])
    target = torch.tensor([[0.5, 0.5]])
    expected = -0.5 * math.log(1 / 3) - 0.5 * math.log(2 / 3)
    assert categorical_cross_entropy(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_of_zero_reward_target_is_not_zero():
    """Against the reference's all-zero target bug: a zero reward still gives a loss."""
    from utils.value_support import scalar_to_categorical
    target = scalar_to_categorical(torch.tensor([0.0]), 5)
    assert categorical_cross_entropy(torch.zeros(1, 11), target).item() == pytest.approx(math.log(11), rel=1e-6)


def test_negative_cosine_by_hand_and_stop_gradient():
    prediction = torch.tensor([[1.0, 0.0], [1.0, 1.0], [2.0, 0.0]], requires_grad=True)
    target = torch.tensor([[0.0, 3.0], [1.0, 1.0], [-1.0, 0.0]], requires_grad=True)
    loss = negative_cosine_similarity(prediction, target)
    assert torch.allclose(loss, torch.tensor([0.0, -1.0, 1.0]), atol=1e-6)
    loss.sum().backward()
    assert target.grad is None
    assert prediction.grad is not None


def test_negative_cosine_per_agent_masks_dead_agents():
    prediction = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]])
    target = torch.tensor([[[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]])
    alive = torch.tensor([[True, False, True]])
    assert negative_cosine_similarity(prediction, target, alive).item() == pytest.approx(-0.5)
    nobody = torch.zeros(1, 3, dtype=torch.bool)
    assert negative_cosine_similarity(prediction, target, nobody).item() == 0.0


def test_scale_gradient_scales_only_the_gradient():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = scale_gradient(x, 0.5)
    assert torch.equal(y, x)
    (3.0 * y).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([1.5, 1.5]))


# -- policy ---------------------------------------------------------------------------------

def test_joint_log_prob_matches_the_product_of_agent_probabilities():
    logits, joint_actions, *_ = random_policy_problem(0)
    result = joint_log_prob(logits, joint_actions)
    probs = torch.softmax(logits, -1)
    for b, m in itertools.product(range(joint_actions.shape[0]), range(joint_actions.shape[1])):
        product = math.prod(probs[b, i, joint_actions[b, m, i]].item() for i in range(joint_actions.shape[2]))
        assert result[b, m].item() == pytest.approx(math.log(product), rel=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_bc_loss_matches_brute_force(seed):
    logits, joint_actions, omega, action_mask, _ = random_policy_problem(seed)
    ones = [[1.0] * joint_actions.shape[1]] * joint_actions.shape[0]
    expected = brute_force_weighted_loss(logits, joint_actions, omega, action_mask, ones)
    assert torch.allclose(bc_policy_loss(logits, joint_actions, omega, action_mask).double(), expected, rtol=1e-5)


def test_bc_loss_can_drop_dead_agents():
    logits, joint_actions, omega, action_mask, _ = random_policy_problem(5)
    alive = torch.tensor([[1, 1, 0], [1, 0, 1], [0, 0, 0], [1, 1, 1]]).bool()
    ones = [[1.0] * joint_actions.shape[1]] * joint_actions.shape[0]
    expected = brute_force_weighted_loss(logits, joint_actions, omega, action_mask, ones, alive)
    result = bc_policy_loss(logits, joint_actions, omega, action_mask, agent_mask=alive)
    assert torch.allclose(result.double(), expected, rtol=1e-5)
    assert result[2].item() == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_bc_equals_sum_of_per_agent_cross_entropies_against_marginals(seed):
    """Reference invariant 14: -sum_a w(a) sum_i log pi_i(a_i) = sum_i CE(marginal_i(w), pi_i)."""
    logits, joint_actions, omega, action_mask, _ = random_policy_problem(seed)
    marginals = marginals_of(joint_actions, omega, action_mask, logits.shape[-1])
    assert torch.allclose(marginals.sum(-1), torch.ones(marginals.shape[:-1], dtype=torch.float32))
    bc = bc_policy_loss(logits, joint_actions, omega, action_mask)
    decomposed = per_agent_cross_entropy(logits, marginals)
    assert torch.allclose(bc, decomposed, rtol=1e-5)


def test_bc_over_every_joint_action_equals_per_agent_cross_entropy():
    """The identity when T(s) is the whole joint action space, with a non-product omega."""
    agents, actions = 3, 3
    generator = torch.Generator().manual_seed(7)
    all_joint = torch.tensor(list(itertools.product(range(actions), repeat=agents)))[None]  # [1, 27, 3]
    omega = torch.rand(1, actions**agents, generator=generator)
    omega = omega / omega.sum()
    mask = torch.ones(1, actions**agents, dtype=torch.bool)
    logits = torch.randn(1, agents, actions, generator=generator)
    marginals = marginals_of(all_joint, omega, mask, actions)
    by_hand = torch.zeros(agents, actions)
    for m, joint in enumerate(all_joint[0]):
        for i, a in enumerate(joint):
            by_hand[i, a] += omega[0, m]
    assert torch.allclose(marginals[0], by_hand, atol=1e-6)
    assert torch.allclose(bc_policy_loss(logits, all_joint, omega, mask),
                          per_agent_cross_entropy(logits, marginals), rtol=1e-5)


def test_awpo_by_hand():
    logits = torch.tensor([[[0.0, math.log(3.0)]]])  # one agent, pi = [1/4, 3/4]
    joint_actions = torch.tensor([[[0], [1]]])
    omega = torch.tensor([[0.75, 0.25]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    advantages = torch.tensor([[0.0, 2.0 * math.log(3.0)]])  # alpha 2 -> weights [1, 3]
    expected = -(0.75 * 1.0 * math.log(0.25) + 0.25 * 3.0 * math.log(0.75))
    loss = awpo_policy_loss(logits, joint_actions, omega, mask, advantages, alpha=2.0)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    clipped = awpo_policy_loss(logits, joint_actions, omega, mask, advantages, alpha=2.0, clip=2.0)
    assert clipped.item() == pytest.approx(-(0.75 * math.log(0.25) + 0.5 * math.log(0.75)), rel=1e-6)


@pytest.mark.parametrize("standardise", [False, True])
def test_awpo_with_infinite_alpha_equals_bc(standardise):
    logits, joint_actions, omega, action_mask, advantages = random_policy_problem(1)
    bc = bc_policy_loss(logits, joint_actions, omega, action_mask)
    infinite = awpo_policy_loss(logits, joint_actions, omega, action_mask, advantages, math.inf, standardise, 3.0)
    huge = awpo_policy_loss(logits, joint_actions, omega, action_mask, advantages, 1e9, standardise)
    assert torch.equal(infinite, bc)
    assert torch.allclose(huge, bc, rtol=1e-6)


def test_awpo_matches_brute_force_with_standardisation_and_clip():
    logits, joint_actions, omega, action_mask, advantages = random_policy_problem(2)
    valid = advantages[action_mask]
    mean, std = valid.mean().item(), valid.std(unbiased=False).item()
    weights = [[min(math.exp((advantages[b, m].item() - mean) / std / 2.0), 3.0)
                for m in range(advantages.shape[1])] for b in range(advantages.shape[0])]
    expected = brute_force_weighted_loss(logits, joint_actions, omega, action_mask, weights)
    result = awpo_policy_loss(logits, joint_actions, omega, action_mask, advantages, 2.0, True, 3.0)
    assert torch.allclose(result.double(), expected, rtol=1e-5)


def test_awpo_with_tiny_alpha_is_clip_times_bc_on_positive_advantages():
    """Reference invariant 15: alpha -> 0 with clip c is c x BC restricted to A_hat > 0."""
    logits, joint_actions, omega, action_mask, advantages = random_policy_problem(3)
    result = awpo_policy_loss(logits, joint_actions, omega, action_mask, advantages, 1e-6, False, 3.0)
    positive = action_mask & (advantages > 0)
    expected = 3.0 * bc_policy_loss(logits, joint_actions, omega, positive)
    assert torch.allclose(result, expected, rtol=1e-6)


def test_normalised_awpo_is_cross_entropy_to_eta_star_by_brute_force():
    """eta*(a) = omega(a) exp(A/alpha) / Z(s) (paper eq. 12), per root, by a plain loop."""
    logits, joint_actions, omega, action_mask, advantages = random_policy_problem(7)
    advantages = advantages * 30.0  # matrix-game scale: the unnormalised weights would be ~e^30
    alpha = 1.5
    eta = []
    for b in range(omega.shape[0]):
        raw = [omega[b, m].item() * math.exp(advantages[b, m].item() / alpha) if action_mask[b, m] else 0.0
               for m in range(omega.shape[1])]
        eta.append([w / sum(raw) for w in raw])
    target = awpo_target(omega, advantages, action_mask, alpha)
    assert torch.allclose(target.double(), torch.tensor(eta, dtype=torch.float64), rtol=1e-5, atol=1e-12)
    expected = brute_force_weighted_loss(logits, joint_actions, torch.ones_like(omega), action_mask, eta)
    result = awpo_policy_loss(logits, joint_actions, omega, action_mask, advantages, alpha, normalise=True)
    assert torch.allclose(result.double(), expected, rtol=1e-5)
    assert bool(torch.isfinite(result).all())


def test_normalised_awpo_ignores_the_advantage_level_and_tends_to_bc():
    logits, joint_actions, omega, action_mask, advantages = random_policy_problem(8)
    base = awpo_policy_loss(logits, joint_actions, omega, action_mask, advantages, 2.0, normalise=True)
    shifted = awpo_policy_loss(logits, joint_actions, omega, action_mask, advantages + 50.0, 2.0, normalise=True)
    assert torch.allclose(base, shifted, rtol=1e-5)  # a wrong v(root) does not change the target
    bc = bc_policy_loss(logits, joint_actions, omega, action_mask)
    flat = awpo_policy_loss(logits, joint_actions, omega, action_mask, advantages, 1e9, normalise=True)
    assert torch.allclose(flat, bc, rtol=1e-6)
    no_children = awpo_target(omega, advantages, torch.zeros_like(action_mask), 2.0)
    assert torch.equal(no_children, torch.zeros_like(no_children))


def test_standardised_advantages_have_zero_mean_unit_std_and_zero_padding():
    _, _, _, action_mask, advantages = random_policy_problem(4, batch=16)
    standardised = standardise_advantages(advantages, action_mask)
    valid = standardised[action_mask].double()
    assert valid.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert valid.std(unbiased=False).item() == pytest.approx(1.0, rel=1e-5)
    assert bool((standardised[~action_mask] == 0).all())
    constant = standardise_advantages(torch.full((2, 3), 4.0), torch.ones(2, 3, dtype=torch.bool))
    assert torch.equal(constant, torch.zeros(2, 3))


def test_awpo_weights_are_detached_zero_on_padding_and_reject_bad_alpha():
    advantages = torch.tensor([[1.0, -1.0, 5.0]], requires_grad=True)
    mask = torch.tensor([[True, True, False]])
    weights = awpo_weights(advantages, mask, alpha=1.0)
    assert not weights.requires_grad
    assert torch.allclose(weights, torch.tensor([[math.e, 1 / math.e, 0.0]]))
    with pytest.raises(ValueError):
        awpo_weights(advantages, mask, alpha=0.0)


def test_padded_slots_give_no_loss_and_no_gradient():
    logits, joint_actions, omega, action_mask, advantages = random_policy_problem(6)
    logits.requires_grad_(True)
    garbage = joint_actions.clone()
    garbage[~action_mask] = -1  # padding ids need not be valid actions
    base = awpo_policy_loss(logits, joint_actions, omega, action_mask, advantages, 2.0, True, 3.0)
    padded = awpo_policy_loss(logits, garbage, omega * 1.0, action_mask, advantages, 2.0, True, 3.0)
    assert torch.allclose(base, padded)
    only_padding = bc_policy_loss(logits, joint_actions, omega, torch.zeros_like(action_mask))
    only_padding.sum().backward()
    assert bool((logits.grad == 0).all())


# -- targets and priorities -----------------------------------------------------------------

def brute_force_targets(episode_rewards, episode_values, start, horizon_k, n, gamma, truncated):
    """z_{t'} for t' = start..start+K directly from the episode (T = len(rewards))."""
    length = len(episode_rewards)
    targets = []
    for t in range(start, start + horizon_k + 1):
        if t >= length:
            targets.append(0.0)
            continue
        steps = min(n, length - t)
        z = sum(gamma**i * episode_rewards[t + i] for i in range(steps))
        if t + n < length:
            z += gamma**n * episode_values[t + n]
        elif truncated:
            z += gamma**steps * episode_values[length]
        targets.append(z)
    return targets


def layout(episode_rewards, episode_values, start, horizon_k, n, padding=999.0):
    """The learner's input rows: rewards u_{t+j} (j < K+n), values v(o_{t+j}) (j <= K+n)."""
    rewards = [episode_rewards[start + j] if start + j < len(episode_rewards) else padding
               for j in range(horizon_k + n)]
    values = [episode_values[start + j] if start + j < len(episode_values) else padding
              for j in range(horizon_k + n + 1)]
    return rewards, values


def test_n_step_targets_on_a_hand_made_episode():
    rewards_ep = [1.0, 2.0, 3.0, 4.0]              # T = 4
    values_ep = [10.0, 20.0, 30.0, 40.0, 50.0]     # v(o_0..o_4); o_4 is the final observation
    k, n, gamma = 2, 2, 0.5
    rows = [layout(rewards_ep, values_ep, start, k, n) for start in (0, 3)]
    rewards = torch.tensor([r for r, _ in rows], dtype=torch.float64)
    values = torch.tensor([v for _, v in rows], dtype=torch.float64)
    steps_left = torch.tensor([4, 1])
    terminal = n_step_value_targets(rewards, values, steps_left, n, gamma)
    assert torch.allclose(terminal, torch.tensor([[9.5, 13.5, 5.0], [4.0, 0.0, 0.0]], dtype=torch.float64))
    cut = n_step_value_targets(rewards, values, steps_left, n, gamma, truncated=torch.tensor([True, True]))
    assert torch.allclose(cut, torch.tensor([[9.5, 13.5, 17.5], [29.0, 0.0, 0.0]], dtype=torch.float64))


def test_n_step_targets_match_brute_force_on_random_episodes():
    generator = torch.Generator().manual_seed(0)
    k, n_max, gamma = 5, 5, 0.9
    rows, expected, lefts, ns, cuts = [], [], [], [], []
    for sample in range(64):
        length = int(torch.randint(1, 15, (1,), generator=generator))
        rewards_ep = torch.randn(length, generator=generator, dtype=torch.float64).tolist()
        values_ep = torch.randn(length + 1, generator=generator, dtype=torch.float64).tolist()
        start = int(torch.randint(0, length, (1,), generator=generator))
        n = int(torch.randint(0, n_max + 1, (1,), generator=generator))  # 0: z = v(o_t) itself
        truncated = bool(sample % 3 == 0)
        rewards_row, values_row = layout(rewards_ep, values_ep, start, k, n_max)
        rows.append((rewards_row, values_row))
        expected.append(brute_force_targets(rewards_ep, values_ep, start, k, n, gamma, truncated))
        lefts.append(length - start)
        ns.append(n)
        cuts.append(truncated)
    rewards = torch.tensor([r for r, _ in rows], dtype=torch.float64)
    values = torch.tensor([v for _, v in rows], dtype=torch.float64)
    result = n_step_value_targets(rewards, values, torch.tensor(lefts), n_max, gamma, torch.tensor(cuts),
                                  td_steps=torch.tensor(ns))
    assert torch.allclose(result, torch.tensor(expected, dtype=torch.float64), atol=1e-10)


def test_shortened_td_steps_keep_the_layout_of_the_configured_n():
    """Every sample shortened to n = 1 (old data): z_{t+k} = u_{t+k} + gamma v(o_{t+k+1})."""
    rewards = torch.arange(1.0, 8.0)[None]           # K = 2, n = 5: 7 rewards
    values = torch.arange(10.0, 90.0, 10.0)[None]     # 8 values
    result = n_step_value_targets(rewards, values, torch.tensor([50]), 5, 0.5, td_steps=torch.tensor([1]))
    assert torch.allclose(result, torch.tensor([[1 + 0.5 * 20, 2 + 0.5 * 30, 3 + 0.5 * 40]]))


def test_n_step_targets_check_shapes():
    with pytest.raises(ValueError):
        n_step_value_targets(torch.zeros(2, 7), torch.zeros(2, 7), torch.ones(2), 3, 0.9)


def test_off_policy_td_steps_schedule():
    ages = torch.tensor([0, 299_999, 300_000, 600_000, 10**9])
    assert off_policy_td_steps(ages, 300_000).tolist() == [5, 5, 4, 3, 1]
    assert off_policy_td_steps(ages, 300_000, min_td_steps=0).tolist() == [5, 5, 4, 3, 0]


def test_zero_td_steps_bootstrap_from_the_position_itself():
    rewards = torch.arange(1.0, 8.0)[None]           # K = 2, n = 5
    values = torch.arange(10.0, 90.0, 10.0)[None]
    result = n_step_value_targets(rewards, values, torch.tensor([2]), 5, 0.5, td_steps=torch.tensor([0]))
    assert torch.allclose(result, torch.tensor([[10.0, 20.0, 0.0]]))  # z = v(o_t+k) inside, 0 past T


def test_value_priorities():
    result = value_priorities(torch.tensor([1.0, -2.0]), torch.tensor([0.5, -2.0]))
    assert torch.allclose(result, torch.tensor([0.5 + 1e-6, 1e-6]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_losses_and_targets_run_on_cuda():
    logits, joint_actions, omega, action_mask, advantages = random_policy_problem(8)
    cpu = awpo_policy_loss(logits, joint_actions, omega, action_mask, advantages, 2.0, True, 3.0)
    gpu = awpo_policy_loss(logits.cuda(), joint_actions.cuda(), omega.cuda(), action_mask.cuda(),
                           advantages.cuda(), 2.0, True, 3.0)
    assert torch.allclose(gpu.cpu(), cpu, rtol=1e-5)
    rewards, values = torch.rand(3, 9), torch.rand(3, 10)
    left, n = torch.tensor([1, 4, 20]), torch.tensor([5, 2, 3])
    expected = n_step_value_targets(rewards, values, left, 5, 0.99, torch.tensor([True, False, False]), n)
    result = n_step_value_targets(rewards.cuda(), values.cuda(), left.cuda(), 5, 0.99,
                                  torch.tensor([True, False, False]).cuda(), n.cuda())
    assert torch.allclose(result.cpu(), expected, atol=1e-6)


def test_search_policy_entropy_by_hand():
    from learners.mazero_diagnostics import search_policy_entropy

    omega = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.25, 0.25, 0.5]])
    valid = torch.tensor([[True, True, False], [True, True, True], [True, True, True]])
    expected = [math.log(2), 0.0, -(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5))]
    assert search_policy_entropy(omega, valid).tolist() == pytest.approx(expected, abs=1e-6)


def test_prior_entropy_counts_available_actions_only():
    from learners.mazero_diagnostics import prior_entropy

    logits = torch.tensor([[0.0, 0.0, 0.0, 5.0], [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    avail = torch.tensor([[1, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
    p = torch.softmax(torch.tensor([1.0, 2.0, 3.0, 4.0]), -1)
    brute = [math.log(3), 0.0, math.log(4)]  # uniform over 3 available; one action; none available: all 4
    got = prior_entropy(logits, avail)
    assert got.tolist() == pytest.approx(brute, abs=1e-6)
    assert prior_entropy(logits[1:2], torch.ones(1, 4)).item() == pytest.approx(-(p * p.log()).sum().item(), abs=1e-6)

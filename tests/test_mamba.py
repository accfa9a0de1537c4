"""MAMBA's pieces against hand-computed values and brute force: the discrete latents and their
straight-through gradient, KL balancing, the imagined lambda-returns, the masking of unavailable
actions, dead agents and padding, permutation equivariance over agents, the controller's
recurrent state, and a checkpoint round trip that resumes exactly. Tiny sizes, real components."""
import io
import math

import pytest
import torch

from components.episode_buffer import EpisodeBatch
from config.loader import load_layers, recursive_update
from config.resolve import resolve_config
from controllers import REGISTRY as MAC_REGISTRY
from envs.multiagentenv import EnvInfo
from learners import REGISTRY as LEARNER_REGISTRY
from learners.mamba_learner import actor_loss, crop_windows, imagined_lambda_returns
from modules.mamba.actor_critic import Actor, AttentionCritic, masked_logits
from modules.mamba.communication import AgentAttention
from modules.mamba.losses import kl_balance_loss
from modules.mamba.rssm import RSSMState, sample_one_hot, straight_through_sample
from modules.mamba.world_model import WorldModel
from run import build_scheme
from search_toys import single_thread  # noqa: F401  (autouse fixture: one intra-op thread on the shared box)

N_AGENTS, N_ACTIONS, OBS, NOOP = 3, 5, 6, 0
TINY = dict(hidden_dim=16, embed_dim=8, deterministic_dim=12, n_categoricals=3, n_classes=4, communication_layers=1,
            communication_heads=2, batch_size=3, seq_length=6, imagination_horizon=4, agent_update_interval=1,
            minibatch_size=20, epochs=2)
TINY_ENTROPY = 0.001  # the yaml's initial entropy_coef, annealed by every actor step


def mamba_args(seed: int = 0, **updates):
    args = resolve_config(recursive_update(load_layers("mamba", "matrix"), {**TINY, "seed": seed, **updates}))
    args.env_info = EnvInfo(n_agents=N_AGENTS, n_actions=N_ACTIONS, obs_shape=OBS, state_shape=4, episode_limit=9,
                            backend="test", noop_action=NOOP)
    return args


def build(seed: int = 0, **updates):
    """(controller, learner, scheme, groups, preprocess) of a tiny MAMBA."""
    torch.manual_seed(seed)
    args = mamba_args(seed, **updates)
    scheme, groups, preprocess = build_scheme(args.env_info)
    mac = MAC_REGISTRY[args.mac](scheme, groups, args)
    return mac, LEARNER_REGISTRY[args.learner](mac, scheme, None, args), scheme, groups, preprocess


def episodes(scheme, groups, preprocess, lengths: list[int], seed: int = 0) -> EpisodeBatch:
    """Random episodes of the given lengths (terminated at the end) in a batch padded to 10 slots;
    obs[..., 0] holds the slot index, so a window's slots can be read back."""
    gen = torch.Generator().manual_seed(seed)
    batch = EpisodeBatch(scheme, groups, len(lengths), 10, preprocess=preprocess)
    for row, length in enumerate(lengths):
        obs = torch.randn(length + 1, N_AGENTS, OBS, generator=gen)
        obs[..., 0] = torch.arange(length + 1.0)[:, None]
        avail = (torch.rand(length + 1, N_AGENTS, N_ACTIONS, generator=gen) < 0.7).int()
        avail[..., NOOP] = 1
        batch.update({"obs": obs, "avail_actions": avail, "state": torch.zeros(length + 1, 4)}, bs=[row],
                     ts=slice(0, length + 1))
        terminated = torch.zeros(length, 1, dtype=torch.uint8)
        terminated[-1] = 1
        batch.update({"actions": torch.randint(0, N_ACTIONS, (length, N_AGENTS, 1), generator=gen),
                      "reward": torch.rand(length, 1, generator=gen), "terminated": terminated},
                     bs=[row], ts=slice(0, length), mark_filled=False)
    return batch


# ------------------------------------------------------------------ discrete latents
def test_straight_through_sample_is_one_hot_forward_and_softmax_backward():
    logits = torch.randn(64, 3, 4, requires_grad=True)
    sample = straight_through_sample(logits)
    assert set(sample.detach().unique().tolist()) <= {0.0, 1.0} and torch.equal(sample.sum(-1), torch.ones(64, 3))
    weights = torch.randn(4)
    (sample * weights).sum().backward()
    expected = torch.autograd.grad((torch.softmax(logits, -1) * weights).sum(), logits)[0]
    assert logits.grad.abs().sum() > 0 and torch.allclose(logits.grad, expected)


def test_samples_follow_the_softmax_and_a_generator_repeats_them():
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5]]).expand(40_000, 4)
    counts = sample_one_hot(logits, torch.Generator().manual_seed(3)).mean(0)
    assert torch.allclose(counts, torch.softmax(logits[0], -1), atol=0.01)
    again = sample_one_hot(logits, torch.Generator().manual_seed(3)).mean(0)
    assert torch.equal(counts, again)


def test_the_rssm_draws_one_one_hot_per_categorical():
    mac, *_ = build()
    state = mac.model.rssm.initial_state((2, N_AGENTS), "cpu")
    prior = mac.model.rssm.imagine_step(state, torch.eye(N_ACTIONS)[torch.zeros(2, N_AGENTS, dtype=torch.long)])
    groups = prior.stoch.unflatten(-1, (3, 4))
    assert torch.equal(groups.sum(-1), torch.ones(2, N_AGENTS, 3)) and prior.deter.shape == (2, N_AGENTS, 12)


# ------------------------------------------------------------------ KL balancing
def test_kl_balancing_matches_hand_computed_values_and_routes_gradients():
    # two categoricals of two classes: q = (0.5, 0.5), (0.9, 0.1); p = (0.25, 0.75), (0.5, 0.5)
    posterior = torch.tensor([0.5, 0.5, 0.9, 0.1]).log().requires_grad_()
    prior = torch.tensor([0.25, 0.75, 0.5, 0.5]).log().requires_grad_()
    loss = kl_balance_loss(posterior, prior, n_categoricals=2, balance=0.8)
    # KL_1 = 0.5 ln 2 + 0.5 ln(2/3) = 0.143841, KL_2 = 0.9 ln 1.8 + 0.1 ln 0.2 = 0.368064, mean over the two
    assert loss.item() == pytest.approx((0.143841 + 0.368064) / 2, abs=1e-6)
    loss.backward()
    # d KL(q||p) / d prior logits = p - q; the prior gets 0.8 of it, averaged over the 2 categoricals
    assert torch.allclose(prior.grad, 0.8 / 2 * torch.tensor([-0.25, 0.25, -0.4, 0.4]), atol=1e-6)
    # d KL(q||p) / d posterior logits = q (ln q - ln p - KL); the posterior gets 0.2 of it
    q, p = torch.tensor([0.5, 0.5, 0.9, 0.1]), torch.tensor([0.25, 0.75, 0.5, 0.5])
    kl = torch.tensor([0.143841, 0.143841, 0.368064, 0.368064])
    assert torch.allclose(posterior.grad, 0.2 / 2 * q * (q.log() - p.log() - kl), atol=1e-6)


def test_kl_balancing_is_zero_when_prior_and_posterior_agree():
    logits = torch.randn(5, N_AGENTS, 12)
    assert torch.allclose(kl_balance_loss(logits, logits.clone(), 3, 0.8), torch.zeros(5, N_AGENTS), atol=1e-6)


# ------------------------------------------------------------------ lambda-returns
def brute_force_lambda_return(r, c, v, t, gamma, lam):
    """(1 - lam) sum_n lam^(n-1) G^(n) + lam^(T-t-1) G^(T-t), G^(n) the n-step return with discounts gamma c."""
    horizon = len(r)
    def n_step(n):
        total, discount = 0.0, 1.0
        for k in range(n):
            total += discount * r[t + k]
            discount *= gamma * c[t + k]
        return total + discount * v[t + n]
    longest = horizon - t
    mixture = sum(lam ** (n - 1) * n_step(n) for n in range(1, longest))
    return (1 - lam) * mixture + lam ** (longest - 1) * n_step(longest)


def test_imagined_lambda_returns_match_the_n_step_mixture():
    gen = torch.Generator().manual_seed(0)
    rewards, continuation = torch.randn(2, 5, 1, generator=gen), torch.rand(2, 5, N_AGENTS, generator=gen)
    values = torch.randn(2, 6, N_AGENTS, generator=gen)
    returns = imagined_lambda_returns(rewards, continuation, values, gamma=0.99, lam=0.95)
    for m in range(2):
        for i in range(N_AGENTS):
            r, c, v = rewards[m, :, 0].tolist(), continuation[m, :, i].tolist(), values[m, :, i].tolist()
            expected = [brute_force_lambda_return(r, c, v, t, 0.99, 0.95) for t in range(5)]
            assert returns[m, :, i].tolist() == pytest.approx(expected, abs=1e-5)


# ------------------------------------------------------------------ masking
def test_unavailable_actions_get_zero_probability_and_are_never_chosen():
    mac, _, scheme, groups, preprocess = build()
    probs = torch.softmax(masked_logits(torch.randn(4, N_ACTIONS), torch.tensor([[1, 0, 1, 0, 0]] * 4)), -1)
    assert torch.all(probs[:, [1, 3, 4]] == 0) and torch.allclose(probs.sum(-1), torch.ones(4))
    batch = episodes(scheme, groups, preprocess, [9, 9, 9, 9])
    mac.init_hidden(4)
    with torch.inference_mode():
        for t in range(9):
            actions = mac.select_actions(batch, t, 0)
            assert torch.all(torch.gather(batch["avail_actions"][:, t], -1, actions[..., None]) == 1)


def test_a_dead_agent_takes_its_no_op_and_gives_the_actor_no_gradient():
    mac, _, scheme, groups, preprocess = build()
    batch = episodes(scheme, groups, preprocess, [9, 9])
    batch["avail_actions"][:, :, 1] = 0
    batch["avail_actions"][:, :, 1, NOOP] = 1           # agent 1 is dead: its no-op only
    mac.init_hidden(2)
    with torch.inference_mode():
        assert all(torch.all(mac.select_actions(batch, t, 0)[:, 1] == NOOP) for t in range(9))
    available = torch.ones(8, N_AGENTS, N_ACTIONS)
    available[:, 1] = 0
    available[:, 1, NOOP] = 1
    old_logits = masked_logits(torch.randn(8, N_AGENTS, N_ACTIONS), available)
    logits = torch.randn(8, N_AGENTS, N_ACTIONS, requires_grad=True)
    actions = torch.eye(N_ACTIONS)[torch.multinomial(torch.softmax(old_logits, -1).flatten(0, 1), 1).view(8, N_AGENTS)]
    loss, _, _ = actor_loss(masked_logits(logits, available), old_logits, actions, torch.randn(8, N_AGENTS), 0.2, 0.01)
    loss.backward()
    assert torch.all(logits.grad[:, 1] == 0) and logits.grad[:, [0, 2]].abs().sum() > 0


def test_windows_stay_inside_their_episodes_and_padding_is_out_of_every_loss():
    _, learner, scheme, groups, preprocess = build()
    batch = episodes(scheme, groups, preprocess, [2, 9, 7])
    torch.manual_seed(1)
    window = crop_windows(batch, 6, with_agent_id=False)
    slots = window.obs[..., 0, 0]                         # the slot index each window position holds
    assert window.slots[0, :, 0].tolist() == [1, 1, 1, 0, 0, 0]      # 3 slots of a 2-step episode, then padding
    assert window.transitions[0, :, 0].tolist() == [1, 1, 0, 0, 0, 0]
    for row in (1, 2):
        assert torch.equal(slots[row], slots[row, 0] + torch.arange(6.0)) and window.slots[row].all()
        for k in range(6):
            t = int(slots[row, k])
            previous = batch["actions_onehot"][row, t - 1] if t > 0 else torch.zeros(N_AGENTS, N_ACTIONS)
            assert torch.equal(window.previous_actions[row, k], previous)
    torch.manual_seed(2)
    losses = learner.world_model_losses(window)
    garbage = crop_windows(batch, 6, with_agent_id=False)
    padded = garbage.slots[..., 0] == 0
    garbage.obs[padded] = 1e3                             # values past an episode's end must not matter
    garbage.rewards[padded] = -1e3
    garbage.available[padded] = 0.0
    torch.manual_seed(2)
    assert {k: v.item() for k, v in learner.world_model_losses(garbage).items()} == \
           pytest.approx({k: v.item() for k, v in losses.items()})


# ------------------------------------------------------------------ permutation equivariance
def test_the_per_agent_parts_are_permutation_equivariant():
    mac, learner, *_ = build()
    model, perm = mac.model, torch.tensor([2, 0, 1])
    obs, features = torch.randn(4, N_AGENTS, OBS), torch.randn(4, N_AGENTS, model.sizes.features)
    per_agent = [model.encoder, model.reward, model.continuation, model.available_actions, mac.actor,
                 lambda x: model.decoder(x)[0]]
    for part, x in zip(per_agent, [obs] + [features] * 5):
        assert torch.allclose(part(x[:, perm]), part(x)[:, perm], atol=1e-5)


def test_communication_and_critic_are_equivariant_without_the_agent_index_table():
    torch.manual_seed(0)
    perm = torch.tensor([1, 2, 0])
    tokens = torch.randn(5, N_AGENTS, 16)
    attention = AgentAttention(16, n_layers=2, n_heads=2, dropout=0.0, agent_index_encoding=False).eval()
    assert torch.allclose(attention(tokens[:, perm]), attention(tokens)[:, perm], atol=1e-5)
    critic = AttentionCritic(24, 16, 2, agent_index_encoding=False)
    features = torch.randn(5, N_AGENTS, 24)
    assert torch.allclose(critic(features[:, perm]), critic(features)[:, perm], atol=1e-5)
    indexed = AgentAttention(16, n_layers=2, n_heads=2, dropout=0.0, agent_index_encoding=True).eval()
    assert not torch.allclose(indexed(tokens[:, perm]), indexed(tokens)[:, perm], atol=1e-3)  # the official default


def test_the_rssm_step_is_equivariant_without_the_agent_index_table():
    mac, *_ = build(agent_index_encoding=False)
    rssm, perm = mac.model.rssm, torch.tensor([2, 0, 1])
    stoch = sample_one_hot(torch.randn(4, N_AGENTS, 3, 4)).flatten(-2)
    state = RSSMState(logits=torch.randn(4, N_AGENTS, 12), stoch=stoch, deter=torch.randn(4, N_AGENTS, 12))
    action, embed = torch.eye(N_ACTIONS)[torch.randint(0, N_ACTIONS, (4, N_AGENTS))], torch.randn(4, N_AGENTS, 8)
    prior, posterior = rssm.observe_step(state, action, embed)
    permuted = rssm.observe_step(state.map(lambda x: x[:, perm]), action[:, perm], embed[:, perm])
    for mine, theirs in zip(permuted, (prior, posterior)):
        assert torch.allclose(mine.deter, theirs.deter[:, perm], atol=1e-5)
        assert torch.allclose(mine.logits, theirs.logits[:, perm], atol=1e-5)


# ------------------------------------------------------------------ the controller's recurrent state
def test_the_controller_keeps_each_agents_state_through_an_episode_and_resets_it():
    mac, _, scheme, groups, preprocess = build()
    batch = episodes(scheme, groups, preprocess, [9, 9])
    mac.init_hidden(2)
    assert torch.all(mac.state.deter == 0) and torch.all(mac.state.stoch == 0)
    with torch.inference_mode():
        mac.select_actions(batch, 0, 0)
        after_first = mac.state.deter.clone()
        mac.select_actions(batch, 1, 0, bs=[1])           # only row 1 is still running
        assert torch.equal(mac.state.deter[0], after_first[0]) and not torch.equal(mac.state.deter[1], after_first[1])
        carried = mac.state.deter[1].clone()
        mac.init_hidden(2)
        mac.select_actions(batch, 1, 0, bs=[1])           # the same step from a fresh state differs
        assert not torch.allclose(mac.state.deter[1], carried)
    mac.init_hidden(2)
    assert torch.all(mac.state.deter == 0)


# ------------------------------------------------------------------ checkpoints
def test_a_checkpoint_round_trip_resumes_the_next_update_exactly():
    mac, learner, scheme, groups, preprocess = build(seed=1)
    batch = episodes(scheme, groups, preprocess, [9, 5, 7], seed=4)
    for _ in range(2):
        learner.train(batch, 0, 0)
    saved = io.BytesIO()
    torch.save(learner.state_dict(), saved)               # through bytes, as a checkpoint file: no shared tensors
    saved.seek(0)
    other_mac, resumed, *_ = build(seed=2)
    resumed.load_state_dict(torch.load(saved))

    torch.manual_seed(11)
    out = learner.train(batch, 0, 0)
    torch.manual_seed(11)
    resumed_out = resumed.train(batch, 0, 0)
    assert out.stats == resumed_out.stats and "pg_loss" in out.stats and "loss" in out.stats
    for part in ("model", "actor", "critic"):
        mine, theirs = getattr(learner, part), getattr(resumed, part)
        for (name, a), (_, b) in zip(mine.state_dict().items(), theirs.state_dict().items()):
            assert torch.equal(a, b), name
    assert learner.entropy_coef == resumed.entropy_coef < TINY_ENTROPY
    mac.init_hidden(3)
    other_mac.init_hidden(3)
    with torch.inference_mode():
        assert torch.equal(mac.select_actions(batch, 0, 0), other_mac.select_actions(batch, 0, 0))


def test_the_official_optimisers_and_schedule_are_configured():
    _, learner, *_ = build()
    assert learner.model_optimiser.param_groups[0]["lr"] == pytest.approx(2e-4)
    actor_group = learner.actor_optimiser.param_groups[0]
    assert actor_group["lr"] == pytest.approx(5e-4) and actor_group["weight_decay"] == pytest.approx(1e-5)
    assert learner.critic_optimiser.param_groups[0]["weight_decay"] == 0.0
    assert isinstance(learner.actor, Actor) and isinstance(learner.model, WorldModel)
    assert learner.entropy_coef == TINY_ENTROPY and math.isclose(learner.args.entropy_anneal, 0.99998)

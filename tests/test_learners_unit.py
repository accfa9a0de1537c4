"""One update of each baseline learner on a hand-built EpisodeBatch: finite losses, parameters
move, target networks follow their schedule, and a state_dict round trip is exact."""
import io

import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.transforms import OneHot
from config.policy_schema import PPOConfig, QLearnerConfig
from controllers import REGISTRY as mac_REGISTRY
from envs.multiagentenv import EnvInfo
from learners import REGISTRY as learner_REGISTRY

N, A, O, S, LIMIT = 2, 3, 4, 5, 6
INFO = EnvInfo(n_agents=N, n_actions=A, obs_shape=O, state_shape=S, episode_limit=LIMIT,
               backend="matrix", noop_action=None)
SCHEME = {
    "state": {"vshape": S},
    "obs": {"vshape": O, "group": "agents"},
    "actions": {"vshape": (1,), "group": "agents", "dtype": torch.long},
    "avail_actions": {"vshape": (A,), "group": "agents", "dtype": torch.int},
    "reward": {"vshape": (1,)},
    "terminated": {"vshape": (1,), "dtype": torch.uint8},
}
GROUPS = {"agents": N}
PREPROCESS = {"actions": ("actions_onehot", [OneHot(A)])}


def make_batch(seed: int = 0, lengths=(6, 3, 4), terminal=(False, True, True)) -> EpisodeBatch:
    """Episodes written the way the runners write them: obs at t, then action/reward/terminated at t."""
    g = torch.Generator().manual_seed(seed)
    batch = EpisodeBatch(SCHEME, GROUPS, len(lengths), LIMIT + 1, preprocess=PREPROCESS)
    for b, (length, done) in enumerate(zip(lengths, terminal)):
        for t in range(length + 1):
            avail = (torch.rand(N, A, generator=g) > 0.3).int()
            avail[:, 1] = 1
            batch.update({"state": torch.randn(S, generator=g), "obs": torch.randn(N, O, generator=g),
                          "avail_actions": avail}, bs=b, ts=t)
            if t < length:
                actions = torch.multinomial(avail.float(), 1, generator=g)
                batch.update({"actions": actions, "reward": torch.randn(1, generator=g),
                              "terminated": torch.tensor([int(done and t == length - 1)])},
                             bs=b, ts=t, mark_filled=False)
    return batch[:, : batch.max_t_filled()]


def make_learner(kind: str, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    common = dict(env="matrix", seed=seed, hidden_dim=8, batch_size=3, **overrides)
    if kind in ("vdn", "qmix", "iql"):
        mixer_keys = {"mixing_embed_dim": 4} if kind == "qmix" else {}
        hard_copies = {} if overrides.get("target_update") == "soft" else {"target_update_interval": 2}
        cfg = QLearnerConfig(name=kind, mixer=None if kind == "iql" else kind, hypernet_embed=8,
                             **mixer_keys, **hard_copies, **common)
    else:
        critic = "cv_critic" if kind == "mappo" else "ac_critic"
        common = {**common, "batch_size_run": common["batch_size"]}  # PPO trains on each rollout
        cfg = PPOConfig(name=kind, critic_hidden_dim=8, **{"critic_type": critic, "epochs": 2, **common})
    cfg.env_info = INFO
    mac = mac_REGISTRY[cfg.mac](SCHEME, GROUPS, cfg)
    full_scheme = EpisodeBatch(SCHEME, GROUPS, 1, 1, preprocess=PREPROCESS).scheme
    return learner_REGISTRY[cfg.learner](mac, full_scheme, None, cfg)


def networks(learner):
    """(online, target) module pairs whose schedule the test checks."""
    if hasattr(learner, "mixer"):
        pairs = [(learner.mac.agent, learner.target_mac.agent), (learner.mixer, learner.target_mixer)]
        return [(o, t) for o, t in pairs if o is not None and any(True for _ in o.parameters())]
    return [(learner.critic, learner.target_critic)]


def flat(module):
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


ALL = ["iql", "vdn", "qmix", "ippo", "mappo"]


@pytest.mark.parametrize("kind", ALL)
def test_one_update_is_finite_and_moves_parameters(kind):
    learner = make_learner(kind)
    before = [flat(online) for online, _ in networks(learner)] + [flat(learner.mac.agent)]
    out = learner.train(make_batch(), t_env=10, episode_num=1)
    assert out.stats and all(torch.isfinite(torch.tensor(v)) for v in out.stats.values())
    after = [flat(online) for online, _ in networks(learner)] + [flat(learner.mac.agent)]
    assert all(not torch.equal(b, a) for b, a in zip(before, after))


@pytest.mark.parametrize("kind", ["vdn", "qmix"])
def test_q_targets_follow_hard_schedule(kind):
    learner = make_learner(kind)  # hard copy every 2 episodes
    initial = [flat(target) for _, target in networks(learner)]
    learner.train(make_batch(), t_env=10, episode_num=1)
    assert all(torch.equal(i, flat(t)) for i, (_, t) in zip(initial, networks(learner)))
    learner.train(make_batch(1), t_env=20, episode_num=2)
    assert all(torch.equal(flat(o), flat(t)) for o, t in networks(learner))
    assert learner.last_target_update_episode == 2


def test_soft_target_update_moves_part_way():
    learner = make_learner("qmix", target_update="soft", target_update_tau=0.5)
    initial = flat(learner.target_mixer)
    learner.train(make_batch(), t_env=10, episode_num=1)
    expected = 0.5 * initial + 0.5 * flat(learner.mixer)
    assert torch.allclose(flat(learner.target_mixer), expected, atol=1e-6)


@pytest.mark.parametrize("kind", ["ippo", "mappo"])
def test_ppo_target_critic_copied_each_update(kind):
    learner = make_learner(kind)  # target_update_interval 1 episode
    learner.train(make_batch(), t_env=10, episode_num=3)
    assert torch.equal(flat(learner.critic), flat(learner.target_critic))


def test_nstep_ppo_variant_runs():
    learner = make_learner("mappo", return_estimator="nstep", q_nstep=3, huber_delta=None, standardise_rewards=True)
    out = learner.train(make_batch(), t_env=10, episode_num=1)
    assert all(torch.isfinite(torch.tensor(v)) for v in out.stats.values())


@pytest.mark.parametrize("kind", ALL)
def test_state_dict_round_trip_is_exact(kind):
    a = make_learner(kind, seed=0)
    a.train(make_batch(0), t_env=10, episode_num=1)
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b = make_learner(kind, seed=123)
    b.load_state_dict(torch.load(buffer, weights_only=False))
    batch = make_batch(5)
    with torch.no_grad():
        assert torch.equal(a.mac.unroll(batch), b.mac.unroll(batch))
    assert all(torch.equal(flat(x), flat(y)) for (x, _), (y, _) in zip(networks(a), networks(b)))
    assert all(torch.equal(flat(x), flat(y)) for (_, x), (_, y) in zip(networks(a), networks(b)))
    # the optimiser state and counters came along: the next update is identical too
    sa, sb = a.train(batch, 20, 2).stats, b.train(batch, 20, 2).stats
    assert sa == sb
    assert torch.equal(flat(a.mac.agent), flat(b.mac.agent))
    # and so did the action selector's random stream
    assert torch.equal(a.mac.select_actions(batch, 0, 20), b.mac.select_actions(batch, 0, 20))


def test_mac_acting_contract():
    learner = make_learner("qmix")
    mac, batch = learner.mac, make_batch()
    mac.init_hidden(batch.batch_size)
    actions = mac.select_actions(batch, t_ep=0, t_env=0, bs=[0, 2])
    assert actions.shape == (2, N) and actions.dtype == torch.long
    avail = batch["avail_actions"][[0, 2], 0]
    assert avail.gather(-1, actions.unsqueeze(-1)).all()
    assert mac.extra_scheme() == {} and mac.step_extras() == {}
    assert mac._build_inputs(batch, 1).shape == (batch.batch_size * N, O + A + N)


def test_config_rejects_impossible_values():
    with pytest.raises(ValueError):
        QLearnerConfig(name="q", env="matrix", mixer="qmixx")
    with pytest.raises(ValueError):
        QLearnerConfig(name="q", env="matrix", epsilon_start=0.1, epsilon_finish=0.5)
    with pytest.raises(ValueError):
        PPOConfig(name="p", env="matrix", eps_clip=1.5)
    with pytest.raises(ValueError):
        PPOConfig(name="p", env="matrix", critic_type="nope")


def test_episode_minibatches_partition_the_rollout():
    from learners.ppo_learner import episode_minibatches

    torch.manual_seed(0)
    parts = episode_minibatches(10, 4, torch.device("cpu"))
    assert len(parts) == 4 and sorted(len(p) for p in parts) == [2, 2, 3, 3]
    assert sorted(torch.cat(parts).tolist()) == list(range(10))  # every episode exactly once
    assert torch.equal(episode_minibatches(5, 1, torch.device("cpu"))[0], torch.arange(5))
    with pytest.raises(ValueError, match="exceeds"):
        episode_minibatches(3, 4, torch.device("cpu"))


@pytest.mark.parametrize("minibatches", [1, 3])
def test_ppo_takes_one_optimiser_step_per_minibatch_and_epoch(minibatches):
    learner = make_learner("mappo", num_minibatches=minibatches, batch_size_run=3, optimizer="adam")
    learner.train(make_batch(), t_env=10, episode_num=3)
    steps = {int(s["step"]) for s in learner.agent_optimiser.state.values()}
    assert steps == {learner.args.epochs * minibatches}


def test_ppo_config_rejects_more_minibatches_than_episodes():
    with pytest.raises(ValueError, match="num_minibatches"):
        PPOConfig(name="mappo", env="matrix", num_minibatches=9, batch_size_run=8)


def test_linear_decay_closed_form():
    from learners.optim import linear_decay
    assert linear_decay(2e-3, 0, 100) == 2e-3
    assert linear_decay(2e-3, 25, 100) == pytest.approx(1.5e-3)
    assert linear_decay(2e-3, 150, 100) == 0.0


@pytest.mark.parametrize("anneal", [False, True])
def test_ppo_lr_anneal_sets_both_optimisers(anneal):
    learner = make_learner("mappo", lr_anneal=anneal, lr=1e-3, t_max=1000)
    stats = learner.train(make_batch(), t_env=250, episode_num=3).stats
    expected = 7.5e-4 if anneal else 1e-3
    assert stats["lr"] == pytest.approx(expected)
    for optimiser in (learner.agent_optimiser, learner.critic_optimiser):
        assert all(g["lr"] == pytest.approx(expected) for g in optimiser.param_groups)


def test_agent_state_critic_sees_state_and_own_observation():
    learner = make_learner("mappo", critic_type="as_critic")
    batch = make_batch()
    values = learner.critic(batch)
    assert values.shape == (batch.batch_size, batch.max_seq_length, INFO.n_agents)
    # agents share the state but not the observation: changing one agent's obs moves only its value
    changed = make_batch()
    changed.transition_data["obs"][:, :, 0] += 1.0
    delta = (learner.critic(changed) - values).abs()
    assert delta[..., 0].max() > 0 and delta[..., 1:].max() == 0
    stats = learner.train(batch, t_env=10, episode_num=3).stats
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())


def batch_with_a_dead_agent() -> EpisodeBatch:
    """make_batch, but agent 1 has only action 1 (its no-op) from step 2 on and takes it."""
    batch = make_batch()
    avail, actions = batch.transition_data["avail_actions"], batch.transition_data["actions"]
    avail[:, 2:, 1] = torch.tensor([0, 1, 0], dtype=avail.dtype)
    actions[:, 2:, 1] = 1
    return batch


@pytest.mark.parametrize("active_masks", [False, True])
def test_ppo_active_masks_leave_choiceless_steps_out(active_masks):
    """With one epoch on one minibatch the logged entropy is the pre-update policy's, averaged
    over the steps the losses count: all valid agent-steps, or only those with a choice."""
    from learners.targets import choice_mask, masked_mean, policy_entropy, valid_transition_mask
    learner = make_learner("mappo", epochs=1, active_masks=active_masks)
    batch = batch_with_a_dead_agent()
    with torch.no_grad():
        entropy = policy_entropy(learner.mac.unroll(batch)[:, :-1])  # [B, T, N]
    mask = valid_transition_mask(batch["filled"], batch["terminated"])
    alive = choice_mask(batch["avail_actions"][:, :-1], mask)
    assert alive[:, 2:, 1].sum() == 0 and 0 < alive.sum() < mask.expand_as(alive).sum()
    expected = masked_mean(entropy, alive if active_masks else mask)
    stats = learner.train(batch, t_env=10, episode_num=1).stats
    assert stats["entropy"] == pytest.approx(expected.item(), rel=1e-5)
    dead_agent_entropy = entropy[:, 2:, 1]
    assert dead_agent_entropy.abs().max() < 1e-6  # a single available action: no entropy

"""RODE: k-means, role action spaces and role-restricted masks (always a non-empty subset of
the available actions), the controller's per-step extras, and one learner update on a
hand-built batch that carries roles."""
import io
from dataclasses import replace

import pytest
import torch
from components.action_selectors import SoftEpsilonGreedySelector
from components.episode_buffer import EpisodeBatch
from config.value_decomposition_schema import RODEConfig
from learners.targets import decision_slots, interval_transitions
from modules.rode.kmeans import kmeans
from modules.rode.role_spaces import distinct_roles, restrict_to_roles, role_action_spaces, role_representations

from test_learners_unit import GROUPS, INFO, PREPROCESS, SCHEME, flat, make_batch
from test_qplex import build_learner

INFO_NOOP = replace(INFO, noop_action=1)


def test_kmeans_separates_clear_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = centres.repeat_interleave(4, dim=0) + 0.1 * torch.randn(12, 2, generator=g)
    labels = kmeans(points, 3, 50, g)
    for c in range(3):
        assert labels[4 * c: 4 * c + 4].unique().numel() == 1
    assert labels.unique().numel() == 3


def test_kmeans_never_returns_more_clusters_than_points_or_empty_ones():
    g = torch.Generator().manual_seed(1)
    labels = kmeans(torch.randn(3, 4, generator=g), 5, 20, g)
    assert sorted(labels.tolist()) == [0, 1, 2]
    labels = kmeans(torch.zeros(6, 4), 3, 20, g)  # identical points: one cluster
    assert labels.tolist() == [0] * 6


@pytest.mark.parametrize("seed", range(4))
def test_role_masks_are_nonempty_subsets_of_avail(seed):
    g = torch.Generator().manual_seed(seed)
    n_actions, n_roles = 7, 5
    labels = kmeans(torch.randn(n_actions, 3, generator=g), n_roles, 50, g)
    spaces = role_action_spaces(labels, n_roles, n_actions, always_allowed=4)
    assert spaces.shape == (n_roles, n_actions) and (spaces.sum(-1) > 0).all() and (spaces[:, 4] == 1).all()
    avail = (torch.rand(64, 3, n_actions, generator=g) > 0.6).long()
    avail[:8] = 0
    avail[:8, :, 4] = 1  # dead agents: only the no-op
    roles = torch.randint(n_roles, (64, 3), generator=g)
    restricted = restrict_to_roles(avail, spaces, roles)
    assert (restricted <= avail).all()
    alive = avail.sum(-1) > 0
    assert (restricted.sum(-1)[alive] > 0).all()
    assert torch.equal(restricted[:8], avail[:8])
    latents = role_representations(spaces, torch.randn(n_actions, 3, generator=g))
    assert latents.shape == (n_roles, 3)


def test_interval_transitions_sum_rewards_and_pad():
    rewards = torch.arange(1.0, 8.0).view(1, 7, 1)
    terminated = torch.zeros(1, 7, 1)
    terminated[0, 6] = 1
    mask = torch.ones(1, 7, 1)
    r, d, m = interval_transitions(rewards, terminated, mask, 3)
    assert r.view(-1).tolist() == [6.0, 15.0, 7.0] and d.view(-1).tolist() == [0.0, 0.0, 1.0]
    assert m.shape == (1, 3, 1)
    slots = decision_slots(torch.arange(8.0).view(1, 8, 1), 3, 3)
    assert slots.view(-1).tolist() == [0.0, 3.0, 6.0, 0.0]


def rode_batch(learner, seed=0):
    """The hand-built episodes plus the roles and restricted masks the controller writes."""
    base = make_batch(seed)
    scheme = {**SCHEME, **learner.mac.extra_scheme()}
    batch = EpisodeBatch(scheme, GROUPS, base.batch_size, base.max_seq_length, preprocess=PREPROCESS)
    for key, value in base.transition_data.items():
        batch.transition_data[key].copy_(value)
    g = torch.Generator().manual_seed(seed)
    roles = torch.randint(learner.args.n_role_clusters, batch["roles"].shape[:-1], generator=g)
    roles = roles[:, ::learner.args.role_interval].repeat_interleave(learner.args.role_interval, 1)[:, :base.max_seq_length]
    spaces = learner.mac.roles_net.spaces
    batch.transition_data["roles"].copy_(roles.unsqueeze(-1) * base["filled"][..., None])
    batch.transition_data["role_avail_actions"].copy_(restrict_to_roles(base["avail_actions"], spaces, roles))
    return batch


def make_rode(seed=0, **kw):
    settings = {"n_role_clusters": 2, "role_interval": 2, "action_latent_dim": 4, "state_latent_dim": 4,
                "role_action_spaces_update_start": 15}
    return build_learner(RODEConfig, "rode", seed=seed, info=INFO_NOOP, **{**settings, **kw})


def test_controller_writes_roles_through_hooks():
    learner = make_rode()
    mac, batch = learner.mac, rode_batch(learner)
    mac.roles_net.spaces.copy_(torch.tensor([[1, 1, 0], [0, 1, 1]]))  # two distinct roles to choose from
    assert set(mac.extra_scheme()) == {"roles", "role_avail_actions"}
    mac.init_hidden(batch.batch_size)
    chosen = []
    for t in range(4):  # role_interval 2: roles are chosen at t = 0 and t = 2
        actions = mac.select_actions(batch, t_ep=t, t_env=0, bs=[0, 2])  # role epsilon 1: random roles
        extras = mac.step_extras()
        assert extras["roles"].shape == (2, 2, 1) and extras["role_avail_actions"].shape == (2, 2, 3)
        avail = batch["avail_actions"][[0, 2], t]
        assert (extras["role_avail_actions"] <= avail).all()
        assert avail.gather(-1, actions.unsqueeze(-1)).all()  # exploration may leave the role, never avail
        chosen.append(extras["roles"])
    assert torch.equal(chosen[1], chosen[0]) and torch.equal(chosen[3], chosen[2])  # kept inside an interval
    mac.init_hidden(batch.batch_size)

    def roles_at_decision_step() -> torch.Tensor:
        mac.select_actions(batch, t_ep=0, t_env=0)
        return mac.roles.clone()
    redrawn = [roles_at_decision_step() for _ in range(8)]
    assert any(not torch.equal(r, redrawn[0]) for r in redrawn)  # a decision step does draw afresh
    mac.init_hidden(batch.batch_size)
    for t in range(4):  # greedy acting stays inside the role, at decision steps and between them
        greedy = mac.select_actions(batch, t_ep=t, t_env=0, bs=[0, 2], test_mode=True)
        assert mac.step_extras()["role_avail_actions"].gather(-1, greedy.unsqueeze(-1)).all()


def test_update_before_and_after_clustering_and_round_trip():
    learner = make_rode()
    encoder_before = flat(learner.mac.encoder)
    nets = lambda l: [flat(l.mac.agent), flat(l.mixer), flat(l.role_mixer), flat(l.mac.roles_net)]
    before = nets(learner)
    out = learner.train(rode_batch(learner), t_env=10, episode_num=1)
    assert all(torch.isfinite(torch.tensor(v)) for v in out.stats.values())
    assert {"loss", "role_loss", "encoder_obs_loss"} <= set(out.stats)
    assert not torch.equal(encoder_before, flat(learner.mac.encoder))
    assert not any(torch.equal(b, a) for b, a in zip(before, nets(learner)))
    assert not learner.mac.clustered
    online_before = [flat(learner.mixer), flat(learner.role_mixer)]
    learner.train(rode_batch(learner, 1), t_env=20, episode_num=2)  # past the update start: clusters
    assert learner.mac.clustered
    # every target (both mixers too) restarted from the online networks at the clustering
    assert all(torch.equal(a, b) for a, b in zip([flat(learner.target_mixer), flat(learner.target_role_mixer)],
                                                 online_before))
    assert learner.last_target_update_episode == 2
    spaces = learner.mac.roles_net.spaces
    assert (spaces.sum(-1) > 0).all() and (spaces[:, 1] == 1).all()  # the no-op stays in every role
    buffer = io.BytesIO()
    torch.save(learner.state_dict(), buffer)
    buffer.seek(0)
    other = make_rode(seed=9)
    other.load_state_dict(torch.load(buffer, weights_only=False))
    batch = rode_batch(learner, 5)
    assert learner.train(batch, 30, 3).stats == other.train(batch, 30, 3).stats
    assert all(torch.equal(a, b) for a, b in zip(nets(learner), nets(other)))
    assert torch.equal(learner.mac.select_actions(batch, 0, 30), other.mac.select_actions(batch, 0, 30))


def smax_3m_like_spaces(n_roles: int = 5) -> torch.Tensor:
    """Role spaces from a realistic SMAX 3m action-effect representation: moves 0-3 (two
    pairs), stop 4 (the no-op) on its own, attacks 5-7 (one cluster each)."""
    repr_ = torch.tensor([[0.0, 10.0], [0.0, 10.2], [10.0, 0.0], [10.2, 0.0], [-10.0, -10.0],
                          [20.0, 20.0], [30.0, 20.0], [20.0, 30.0]])
    labels = kmeans(repr_, n_roles + 1, 50, torch.Generator().manual_seed(0))
    return role_action_spaces(labels, n_roles, 8, always_allowed=4)


def test_no_role_is_the_noop_alone_and_all_actions_are_covered():
    spaces = smax_3m_like_spaces()
    assert ((spaces.sum(-1) - spaces[:, 4]) > 0).all()  # every role has an action besides the no-op
    assert (spaces.sum(0) > 0).all()  # the union covers every action


def test_attack_role_out_of_range_does_not_pin_agent_to_noop():
    """An alive agent whose role holds only attacks that are unavailable (no enemy in range) keeps
    its available actions: restricting it to the no-op (stop) would freeze greedy attack roles in place."""
    spaces = smax_3m_like_spaces()
    attack_roles = [r for r in range(spaces.shape[0]) if spaces[r, :4].sum() == 0]
    assert attack_roles
    avail = torch.tensor([1, 1, 1, 1, 1, 0, 0, 0]).expand(len(attack_roles), 8)  # moves and stop only
    restricted = restrict_to_roles(avail, spaces, torch.tensor(attack_roles), always_allowed=4)
    assert torch.equal(restricted, avail)
    in_range = torch.ones(len(attack_roles), 8, dtype=torch.long)
    restricted = restrict_to_roles(in_range, spaces, torch.tensor(attack_roles), always_allowed=4)
    assert torch.equal(restricted, spaces[attack_roles])  # in range, the role restricts
    dead = torch.zeros(1, 8, dtype=torch.long)
    dead[0, 4] = 1
    assert torch.equal(restrict_to_roles(dead, spaces, torch.tensor([0]), always_allowed=4), dead)


def test_smac_rule_drops_small_clusters_and_gives_large_ones_the_moves():
    """RODE's official rule with SMAX's layout (moves 0-3, stop 4 = no-op, attacks 5-7), labels by hand."""
    moves = (0, 1, 2, 3)
    # clusters: {0, 1} (two moves), {2} (one move), {3, 4} (a move + the no-op), {5, 6, 7} (three attacks)
    labels = torch.tensor([0, 0, 1, 2, 2, 3, 3, 3])
    spaces = role_action_spaces(labels, 4, 8, always_allowed=4, move_actions=moves)
    two_moves = [1, 1, 0, 0, 1, 0, 0, 0]
    attacks_and_moves = [1, 1, 1, 1, 1, 1, 1, 1]
    assert spaces.tolist() == [two_moves, attacks_and_moves, two_moves, attacks_and_moves]
    # nothing large enough: one role with every action
    single = role_action_spaces(torch.arange(8), 3, 8, always_allowed=4, move_actions=moves)
    assert (single == 1).all()
    # two attacks stay an attack-only role (plus the no-op), as in the official code; the attack
    # the rule leaves in no role (7) gets a role of its own with the moves
    pair = role_action_spaces(torch.tensor([0, 0, 0, 0, 1, 2, 2, 1]), 3, 8, always_allowed=4, move_actions=moves)
    assert pair.tolist() == [[1, 1, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0, 0, 1]]
    # the failure this guards against: moves clustered together, every attack alone
    split = role_action_spaces(torch.tensor([0, 0, 0, 0, 1, 2, 3, 4]), 5, 8, always_allowed=4, move_actions=moves)
    assert (split.sum(0) > 0).all() and split[:, 5:].any()
    assert split.unique(dim=0).tolist() == [[1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]]


def test_role_selector_has_its_own_trunk():
    """The role values depend on the selector trunk only, the action values on the agent trunk only."""
    learner = make_rode()
    mac = learner.mac
    action_qs, role_qs = mac.unroll_roles(rode_batch(learner))
    role_qs.sum().backward(retain_graph=True)
    assert all(p.grad is None for p in mac.agent.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mac.roles_net.selector_trunk.parameters())
    mac.roles_net.selector_trunk.zero_grad(set_to_none=True)
    action_qs.sum().backward()
    assert all(p.grad is None for p in mac.roles_net.selector_trunk.parameters())
    assert all(p.grad is not None for p in mac.agent.parameters())


def test_distinct_roles_keeps_the_first_of_each_space():
    spaces = torch.tensor([[1, 1, 0], [0, 1, 1], [1, 1, 0], [0, 1, 1], [1, 1, 1]])
    assert distinct_roles(spaces).tolist() == [1, 1, 0, 0, 1]
    assert distinct_roles(torch.ones(3, 4)).tolist() == [1, 0, 0]


def test_duplicate_roles_are_never_chosen():
    learner = make_rode(n_role_clusters=4)
    mac, batch = learner.mac, rode_batch(learner)
    mac.roles_net.spaces.copy_(torch.tensor([[1, 1, 0], [1, 1, 0], [0, 1, 1], [1, 1, 0]]))
    mac.roles_net.clustered_at.fill_(0)  # role epsilon 1 at t_env 0: uniform over the allowed roles
    chosen = set()
    for _ in range(30):
        mac.init_hidden(batch.batch_size)
        mac.select_actions(batch, t_ep=0, t_env=0)
        chosen |= set(mac.step_extras()["roles"].view(-1).tolist())
    assert chosen == {0, 2}


def test_soft_epsilon_greedy_explores_all_available_actions_and_restarts():
    args = RODEConfig(name="rode", env="matrix", seed=3, epsilon_start=1.0, epsilon_finish=0.05, epsilon_anneal_time=100,
                      epsilon_anneal_time_exp=40)
    selector = SoftEpsilonGreedySelector(args)
    # schedule: plain before the clustering, from epsilon_start again at it, flat after the _exp time
    assert selector.epsilon_at(50, None) == pytest.approx(1.0 - 0.5 * 0.95)
    assert selector.epsilon_at(60, 60) == 1.0
    assert selector.epsilon_at(80, 60) == pytest.approx(1.0 - 0.5 * 0.95)
    assert selector.epsilon_at(100, 60) == selector.epsilon_at(10_000, 60) == 0.05
    # Q prefers action 2, which the role forbids; action 0 is unavailable
    qs = torch.tensor([0.0, 1.0, 5.0]).expand(4000, 1, 3)
    avail = torch.tensor([0, 1, 1]).expand(4000, 1, 3)
    role_avail = torch.tensor([0, 1, 0]).expand(4000, 1, 3)
    greedy = selector.select_in_role(qs, avail, role_avail, t_env=0, restart_step=None, test_mode=True)
    assert (greedy == 1).all()
    explored = selector.select_in_role(qs, avail, role_avail, t_env=0, restart_step=None)  # epsilon 1
    assert (explored != 0).all()
    assert (explored == 2).float().mean().item() == pytest.approx(0.5, abs=0.04)  # uniform over avail
    late = selector.select_in_role(qs, avail, role_avail, t_env=10_000, restart_step=None)  # epsilon 0.05
    assert (late == 2).float().mean().item() == pytest.approx(0.025, abs=0.01)


def test_one_hot_diagnostic_gives_independent_action_columns():
    """`role_policy_action_repr=one_hot`: role r's value of action a is head_r(h)[a], whatever the
    (possibly collinear) learned representations are; the role selector still uses the learned ones."""
    learner = make_rode(role_policy_action_repr="one_hot")
    nets = learner.mac.roles_net
    nets.action_repr.copy_(torch.ones_like(nets.action_repr))  # fully collinear representations
    hidden = torch.randn(5, learner.args.hidden_dim)
    roles = torch.zeros(5, dtype=torch.long)
    expected = nets.policies.heads[0](hidden)[:, :nets.action_repr.shape[0]]
    assert torch.allclose(nets.action_values(hidden, roles), expected)
    default = make_rode().mac.roles_net
    default.action_repr.copy_(torch.ones_like(default.action_repr))
    values = default.action_values(hidden, roles)
    assert torch.allclose(values, values[:, :1].expand_as(values))  # RODE's head cannot tell them apart
    with pytest.raises(ValueError, match="action_latent_dim >= n_actions"):
        make_rode(role_policy_action_repr="one_hot", action_latent_dim=2)


def test_clip_per_level_clips_each_level_on_its_own():
    """Joint clipping (official) scales both levels by one factor; `clip_per_level` brings each
    level's norm to at most the clip separately, and the two groups split the parameters."""
    learner = make_rode(clip_per_level=True, grad_norm_clip=1e-3)
    groups = learner._clip_groups()
    assert len(groups[0]) + len(groups[1]) == len(learner.params)
    assert {id(p) for p in groups[0]}.isdisjoint(id(p) for p in groups[1])
    learner.train(rode_batch(learner), t_env=10, episode_num=1)
    for group in groups:  # each level at the clip itself (a joint clip would leave both below it)
        norm = torch.stack([p.grad.norm() for p in group if p.grad is not None]).norm()
        assert norm.item() == pytest.approx(1e-3, rel=1e-3)
    assert make_rode()._clip_groups() is None

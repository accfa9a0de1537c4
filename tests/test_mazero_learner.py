"""MAZero's replay windows, action views, controller and learner update."""
import functools

import numpy as np
import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.transition_replay import PrioritizedTransitionReplay
from config.loader import load_layers, recursive_update
from config.mazero_schema import MAZeroConfig
from controllers.mazero_controller import MAZeroMAC
from modules.mazero.action_view import ActionView
from modules.mazero.build import search_config
from search import select_action_eval
from modules.mazero.inputs import agent_inputs, alive_mask, frame_window
from envs.multiagentenv import EnvInfo
from learners.mazero_diagnostics import gradient_norms
from learners.mazero_learner import MAZeroLearner
from run import build_scheme
from utils.logging import Logger, get_console_logger

INFO = EnvInfo(n_agents=3, n_actions=6, obs_shape=5, state_shape=7, episode_limit=12, backend="test", noop_action=4)


# behaviour cloning as mazero_bc.yaml sets it: mazero's AWPO keys back to their (unread) defaults
BC = {"policy_loss": "bc", "awpo_alpha": 3.0, "awpo_standardise": False, "awpo_clip": None}


def config(**overrides) -> MAZeroConfig:
    raw = recursive_update(load_layers("mazero", "matrix"), {
        "seed": 0, "num_simulations": 6, "batch_size": 8, "min_replay_transitions": 8, "unroll_steps": 3,
        "td_steps": 2, "hidden_dim": 32, "communication_layers": 1, "buffer_size": 6, "stacked_observations": 2,
        "target_update_interval": 3, "reanalyse_workers": 0, **overrides})
    raw["env_args"] = {}
    args = MAZeroConfig.model_validate(raw)
    args.env_info = INFO
    return args


def episode_batch(lengths, offset=0.0, dead_agent_from=None):
    """Episodes whose obs encode (episode, t) so windows can be checked exactly."""
    scheme, groups, preprocess = build_scheme(INFO)
    batch = EpisodeBatch(scheme, groups, len(lengths), INFO.episode_limit + 1, preprocess=preprocess)
    for i, length in enumerate(lengths):
        for t in range(length + 1):
            avail = np.ones((3, 6))
            if dead_agent_from is not None and t >= dead_agent_from:
                avail[2] = np.eye(6)[4]
            batch.update({"obs": np.full((3, 5), offset + 100 * i + t, np.float32), "state": np.zeros(7),
                          "avail_actions": avail}, bs=[i], ts=t)
            if t < length:
                batch.update({"actions": np.full((3, 1), t % 4), "reward": [float(t + 1)],
                              "terminated": [int(t == length - 1)]}, bs=[i], ts=t, mark_filled=False)
    return batch, scheme, groups, preprocess


def test_replay_windows_pad_before_and_after_the_episode():
    args = config()
    batch, scheme, groups, preprocess = episode_batch([4, 7])
    replay = PrioritizedTransitionReplay(scheme, groups, args, preprocess)
    replay.insert_episode_batch(batch)
    assert len(replay) == 11
    rows, starts = np.array([0, 1]), np.array([2, 0])
    window = replay._windows(rows, starts, np.array([2, 4]), np.ones(2))
    # stacked frames: one frame before t (zeros before the episode), positions clamp at the final obs (t = 4)
    assert window.obs[0, :, 0, 0].tolist() == [1, 2, 3, 4, 4, 4, 4]
    assert window.obs[1, :, 0, 0].tolist() == [0, 100, 101, 102, 103, 104, 105]
    assert window.rewards[0].tolist() == [3, 4, 0, 0, 0] and window.actions[0, :, 0].tolist() == [2, 3, 0, 0, 0]
    assert window.steps_left.tolist() == [2, 7] and window.truncated.tolist() == [False, False]


def test_replay_evicts_whole_oldest_episodes():
    args = config(buffer_size=2)
    replay = None
    for k, lengths in enumerate([[3], [4], [5]]):
        batch, scheme, groups, preprocess = episode_batch(lengths, offset=1000 * k)
        replay = replay or PrioritizedTransitionReplay(scheme, groups, args, preprocess)
        replay.insert_episode_batch(batch)
    assert len(replay) == 9 and replay.sampler.oldest_id == 3      # the 3-step episode left with its ids
    sample = replay.sample(64)
    assert set(sample.obs[:, 1, 0, 0].long().tolist()) <= {1000 + t for t in range(4)} | {2000 + t for t in range(5)}


def test_a_partly_filled_transition_replay_saves_its_filled_rows_and_resumes_sampling_exactly():
    args = config(buffer_size=6)
    batch, scheme, groups, preprocess = episode_batch([4, 7])
    replay = PrioritizedTransitionReplay(scheme, groups, args, preprocess)
    replay.insert_episode_batch(batch)
    state = replay.state_dict()
    assert state["storage"]["transition_data"]["obs"].shape[:2] == (2, 8)  # of 6 rows; the 7-step episode's 8 observations
    clone = PrioritizedTransitionReplay(scheme, groups, args, preprocess)
    clone.load_state_dict(state)
    for key, value in replay.storage.transition_data.items():
        assert torch.equal(clone.storage.transition_data[key], value), key
    more, *_ = episode_batch([5], offset=1000)
    for r in (replay, clone):
        r.insert_episode_batch(more)  # into row 2 of both
    a, b = replay.sample(16), clone.sample(16)
    assert np.array_equal(a.ids, b.ids) and torch.equal(a.obs, b.obs) and torch.equal(a.rewards, b.rewards)


def test_action_views_round_trip_and_mask_joint_actions():
    avail = torch.tensor([[1, 0, 1], [0, 1, 1]])
    flat = ActionView(n_agents=2, n_actions=3, flat=True)
    joint = flat.avail(avail)[0]
    assert joint.shape == (9,) and joint.tolist() == [0, 1, 1, 0, 0, 0, 0, 1, 1]
    actions = torch.tensor([[2, 1], [0, 2]])
    assert torch.equal(flat.to_env(flat.to_model(actions)), actions)
    factored = ActionView(2, 3, flat=False)
    assert torch.equal(factored.avail(avail), avail) and torch.equal(factored.to_model(actions), actions)


def test_inputs_stack_frames_and_mark_dead_agents():
    obs = torch.arange(2 * 4 * 3 * 2, dtype=torch.float32).view(2, 4, 3, 2)
    window = frame_window(obs, t=0, n_frames=3)
    assert window.shape == (2, 3, 3, 2) and torch.all(window[:, :2] == 0) and torch.equal(window[:, 2], obs[:, 0])
    inputs = agent_inputs(window, obs_agent_id=True)
    assert inputs.shape == (2, 3, 3 * 2 + 3) and torch.equal(inputs[0, :, -3:], torch.eye(3))
    avail = torch.tensor([[1, 1, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0]])
    assert alive_mask(avail, noop_action=4).tolist() == [True, False]


def test_controller_dead_agents_take_the_noop_and_actions_are_available():
    args = config()
    batch, scheme, groups, _ = episode_batch([8], dead_agent_from=0)
    mac = MAZeroMAC(scheme, groups, args)
    for test_mode in (False, True):
        actions = mac.select_actions(batch, t_ep=1, t_env=10**6, bs=np.array([0]), test_mode=test_mode)
        assert actions.shape == (1, 3) and actions[0, 2].item() == 4
    mac.use_test_variant("prior_")
    assert mac.select_actions(batch, t_ep=1, t_env=0, bs=np.array([0]), test_mode=True)[0, 2].item() == 4


@pytest.mark.parametrize("test_tau, expected_tau", [(None, 1.0), (0.25, 0.25)])
def test_evaluation_searches_sample_at_the_test_temperature_self_play_at_the_training_one(test_tau, expected_tau):
    """With a flat prior (each agent's greedy action at p = e / (e + 5)), K = 10 draws of a 3-agent
    joint action hold the greedy joint action with probability 1 - (1 - q^3)^10, q the greedy
    action's mass under pi^(1/tau): 0.36 at tau = 1, all but certain at tau = 0.25."""
    args = config(test_sampling_temperature=test_tau)
    batch, scheme, groups, _ = episode_batch([8])
    mac = MAZeroMAC(scheme, groups, args)
    assert mac.search.config.sampling_temperature == 1.0
    assert mac.test_search.config.sampling_temperature == expected_tau
    assert (mac.test_search is mac.search) == (test_tau is None)  # no second engine without its own tau
    head = [m for m in mac.model.policy_head.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([1.0, 0, 0, 0, 0, 0]))
    roots = 4000
    frames = frame_window(batch["obs"][[0]], 1, args.stacked_observations).expand(roots, -1, -1, -1)
    inputs, avail, mask = mac.inputs(frames, batch["avail_actions"][[0], 1].expand(roots, -1, -1))
    result = mac.test_search.search(mac.model, inputs, avail, mask, torch.Generator().manual_seed(0), add_noise=False)
    greedy_in_candidates = ((result.joint_actions == 0).all(-1) & result.valid).any(-1).float().mean().item()
    q = torch.softmax(torch.tensor([1.0, 0, 0, 0, 0, 0]) / expected_tau, 0)[0].item()
    assert greedy_in_candidates == pytest.approx(1 - (1 - q ** 3) ** args.num_sampled_actions, abs=0.03)


def test_evaluation_acts_through_the_test_search_and_self_play_through_its_own():
    """Replayed from the same generator state, test-mode actions are the test search's most visited
    children (tau 0.25) and not those the self-play search (tau 1) would give."""
    args = config(test_sampling_temperature=0.25)
    batch, scheme, groups, _ = episode_batch([8] * 64)
    mac = MAZeroMAC(scheme, groups, args)
    head = [m for m in mac.model.policy_head.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        head.bias.copy_(torch.tensor([1.0, 0.5, 0, 0, 0, 0]))
    start = mac.generator.get_state()
    acted = mac.select_actions(batch, t_ep=1, t_env=10**6, test_mode=True)
    frames = frame_window(batch["obs"], 1, args.stacked_observations)
    inputs, avail, mask = mac.inputs(frames, batch["avail_actions"][:, 1])

    def replay(search):
        generator = torch.Generator().manual_seed(0)
        generator.set_state(start)
        result = search.search(mac.model, inputs, avail, mask, generator, add_noise=False)
        return mac.inputs.view.to_env(select_action_eval(result, generator))

    assert torch.equal(acted, replay(mac.test_search))
    assert not torch.equal(acted, replay(mac.search))


def test_controller_reports_per_episode_how_often_it_played_the_priors_greedy_action():
    """Every agent's prior prefers action 0 (zero weights, biased output), so the count is the
    played zeros among agents with a choice; agent 2 dies at t = 2 and then has no choice. Rows
    0-7 decide at t = 1, rows 1, 3, 5 and 6 again at t = 2; the prior variant reports nothing."""
    args = config()
    batch, scheme, groups, _ = episode_batch([8] * 8, dead_agent_from=2)
    mac = MAZeroMAC(scheme, groups, args)
    head = [m for m in mac.model.policy_head.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([0.3, 0.2, 0.1, 0, 0, 0]))
    mac.init_hidden(batch_size=8)
    agreeing, choosing, joint, decisions = (np.zeros(8) for _ in range(4))
    for t, rows in ((1, np.arange(8)), (2, np.array([1, 3, 5, 6]))):
        acted = mac.select_actions(batch, t_ep=t, t_env=10**6, bs=rows, test_mode=True).numpy()
        alive = 3 if t == 1 else 2
        agreeing[rows] += (acted[:, :alive] == 0).sum(1)
        choosing[rows] += alive
        joint[rows] += (acted[:, :alive] == 0).all(1)
        decisions[rows] += 1
    stats = mac.episode_stats()
    assert stats["greedy_agreement"].tolist() == pytest.approx((agreeing / choosing).tolist())
    assert stats["search_picks_greedy"].tolist() == pytest.approx((joint / decisions).tolist())
    assert 0 < agreeing.sum() < choosing.sum()  # the searches played some non-greedy actions
    mac.init_hidden(batch_size=8)
    mac.use_test_variant("prior_")
    mac.select_actions(batch, t_ep=1, t_env=10**6, test_mode=True)
    assert mac.episode_stats() == {}


def test_a_search_is_either_the_test_or_the_reanalysis_search():
    with pytest.raises(ValueError, match="either"):
        search_config(config(), use_noise=False, reanalysis=True, test=True)


@pytest.mark.parametrize("overrides", [{}, BC, {"model_type": "flat"},
                                       {"share_parameters": False, "communication": False},
                                       {"reanalyse_cache": False}])
def test_learner_update_trains_lags_the_target_and_round_trips(overrides):
    """With the replay saved (which also saves the reanalysis cache) a restored learner trains exactly as the original."""
    torch.manual_seed(0)
    args = config(save_replay_buffer=True, **overrides)
    batch, scheme, groups, preprocess = episode_batch([6, 9, 12], dead_agent_from=3)
    mac = MAZeroMAC(scheme, groups, args)
    learner = MAZeroLearner(mac, scheme, Logger(get_console_logger("test")), args)
    replay = PrioritizedTransitionReplay(scheme, groups, args, preprocess)
    replay.insert_episode_batch(batch)
    before = [p.detach().clone() for p in learner.model.parameters()]
    target_before = [p.detach().clone() for p in learner.target_model.parameters()]
    sample = replay.sample(args.batch_size)
    out = learner.train(sample, t_env=100, episode_num=3)
    assert all(np.isfinite(v) for v in out.stats.values())
    assert out.priorities.shape == (args.batch_size,) and torch.all(out.priorities > 0)
    assert any(not torch.equal(a, b) for a, b in zip(before, learner.model.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(target_before, learner.target_model.parameters()))  # lags
    learner.train(replay.sample(args.batch_size), 100, 3)
    learner.train(replay.sample(args.batch_size), 100, 3)  # update 3 = target_update_interval: copied
    assert all(torch.equal(a, b) for a, b in zip(learner.model.parameters(), learner.target_model.parameters()))
    replay.update_priorities(sample, out.priorities)

    state = learner.state_dict()
    clone_mac = MAZeroMAC(scheme, groups, args)
    clone = MAZeroLearner(clone_mac, scheme, Logger(get_console_logger("test")), args)
    clone.load_state_dict(state)
    probe = replay.sample(args.batch_size)
    torch.manual_seed(1)
    a = learner.train(probe, 100, 3).stats["loss"]
    torch.manual_seed(1)
    b = clone.train(probe, 100, 3).stats["loss"]
    assert a == pytest.approx(b, rel=1e-6)


@pytest.mark.parametrize("policy_loss", ["awpo", "bc"])
def test_learner_reports_how_much_the_clip_shrank_the_update(policy_loss):
    """`grad_clip_scale` = min(1, clip / |g|); `awpo_weight_max` is eq. 14's largest weight (AWPO only)."""
    torch.manual_seed(0)
    batch, scheme, groups, preprocess = episode_batch([6, 9, 12])
    for clip, binds in ((1e-4, True), (1e6, False)):
        args = config(**(BC if policy_loss == "bc" else {}), grad_norm_clip=clip)
        learner = MAZeroLearner(MAZeroMAC(scheme, groups, args), scheme, Logger(get_console_logger("test")), args)
        replay = PrioritizedTransitionReplay(scheme, groups, args, preprocess)
        replay.insert_episode_batch(batch)
        stats = learner.train(replay.sample(args.batch_size), 100, 3).stats
        expected = clip / stats["grad_norm"] if binds else 1.0
        assert stats["grad_clip_scale"] == pytest.approx(expected, rel=1e-6)
        assert (stats["grad_clip_scale"] < 1.0) == binds
        if policy_loss == "awpo":
            assert 0.0 < stats["awpo_weight_max"] < float("inf")
        else:
            assert "awpo_weight_max" not in stats


def test_compiled_unroll_trains_as_the_eager_one(monkeypatch):
    """compile_unroll=True changes how the training step's unroll runs, not what it computes: the same
    losses and the same weights after two updates as eager (dropout off: a compiled graph draws its own
    masks). The graph is traced by dynamo and differentiated by AOTAutograd as in a run, but executed by
    the `aot_eager` backend: inductor's code generation alone takes minutes on a 2-core CI box.
    `bench/mazero_step_bench.py --compare-compiled` checks inductor's numbers on the full model."""
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    batch, scheme, groups, preprocess = episode_batch([6, 9, 12], dead_agent_from=3)
    replay = PrioritizedTransitionReplay(scheme, groups, config(), preprocess)
    replay.insert_episode_batch(batch)
    samples = [replay.sample(8), replay.sample(8)]
    flat = lambda model: torch.cat([p.detach().flatten() for p in model.parameters()])  # noqa: E731
    losses, weights = [], []
    for compiled in (False, True):
        torch.manual_seed(0)
        args = config(compile_unroll=compiled, dropout=0.0)
        learner = MAZeroLearner(MAZeroMAC(scheme, groups, args), scheme, Logger(get_console_logger("test")), args)
        initial = flat(learner.model)
        losses.append([learner.train(sample, 100, 3).stats["loss"] for sample in samples])
        weights.append(flat(learner.model))
        assert not torch.allclose(weights[-1], initial)  # the updates moved the weights: the comparison is not vacuous
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert torch.allclose(weights[1], weights[0], rtol=1e-4, atol=1e-6)


def test_gradient_norms_match_one_backward_pass_per_term():
    """Each term's norm is what a backward pass of that term alone leaves in .grad (a parameter the
    term does not reach counts 0), and measuring keeps the graph for the update's own backward."""
    torch.manual_seed(0)
    shared, head_a, head_b = torch.nn.Linear(4, 3), torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    x = torch.randn(5, 4)
    hidden = torch.tanh(shared(x))
    terms = {"a": head_a(hidden).pow(2).mean(), "b": 3.0 * head_b(hidden).abs().mean(), "none": head_a.bias.sum()}
    params = list(shared.parameters())
    norms = gradient_norms(terms, params)
    for name, term in terms.items():
        shared.zero_grad(set_to_none=True)
        term.backward(retain_graph=True)
        grads = [p.grad for p in params if p.grad is not None]
        expected = float(torch.sqrt(sum((g ** 2).sum() for g in grads))) if grads else 0.0
        assert norms[name] == pytest.approx(expected, rel=1e-6)
    assert norms["none"] == 0.0 and norms["a"] > 0 and norms["b"] > 0


def test_learner_logs_each_loss_terms_gradient_on_the_shared_networks_without_changing_the_update():
    batch, scheme, groups, preprocess = episode_batch([6, 9, 12], dead_agent_from=3)
    replay = PrioritizedTransitionReplay(scheme, groups, config(), preprocess)
    replay.insert_episode_batch(batch)
    sample = replay.sample(8)
    flat = lambda model: torch.cat([p.detach().flatten() for p in model.parameters()])  # noqa: E731
    results = []
    for logged in (False, True):
        torch.manual_seed(0)
        args = config(log_loss_gradients=logged, dropout=0.0)
        learner = MAZeroLearner(MAZeroMAC(scheme, groups, args), scheme, Logger(get_console_logger("test")), args)
        learner.train(sample, 100, 3)  # the heads start at zero (zero_init_outputs): no gradient reaches the trunk yet
        results.append((learner.train(sample, 100, 3).stats, flat(learner.model)))
    (plain, weights_plain), (logged, weights_logged) = results
    assert not any(key.startswith("shared_grad_norm_") for key in plain)
    norms = {key: value for key, value in logged.items() if key.startswith("shared_grad_norm_")}
    assert set(norms) == {f"shared_grad_norm_{t}" for t in ("reward", "value", "policy", "consistency")}
    assert all(value > 0 for value in norms.values())
    assert logged["loss"] == pytest.approx(plain["loss"], rel=1e-6)
    assert torch.allclose(weights_logged, weights_plain)

"""CDS: the shared + individual agent heads, the intrinsic reward (finite; zero when all agents'
trajectories are identical), the predictors, and one learner update on a hand-built batch."""
import io
from types import SimpleNamespace

import torch

from config.value_decomposition_schema import CDSConfig
from modules.agents import REGISTRY as agent_REGISTRY
from modules.cds.intrinsic import action_divergence, anneal_factor, intrinsic_reward
from modules.cds.predictors import TransitionPredictors
from test_learners_unit import flat, make_batch
from test_qplex import build_learner


def agent_args(n_agents=3, n_actions=5):
    return SimpleNamespace(hidden_dim=8, env_info=SimpleNamespace(n_agents=n_agents, n_actions=n_actions))


def test_agent_is_shared_plus_individual_heads():
    torch.manual_seed(0)
    agent = agent_REGISTRY["cds"](6, agent_args())
    inputs = torch.randn(1, 6).expand(3, 6)  # the same input for the three agents of one env
    q, h = agent(inputs, agent.init_hidden().expand(3, -1))
    assert q.shape == (3, 5) and h.shape == (3, 8)
    shared = agent.shared_head(h)
    assert torch.allclose(q, shared + agent.local_values(h.view(1, 3, 8)).view(3, 5), atol=1e-6)
    assert not torch.allclose(q[0], q[1])  # identity comes from the individual heads alone


def test_intrinsic_reward_is_finite():
    torch.manual_seed(1)
    r = intrinsic_reward(torch.randn(4, 7, 3), torch.randn(4, 7, 3), torch.randn(4, 7, 3, 5) * 50, 2.0, 1.0)
    assert r.shape == (4, 7, 1) and torch.isfinite(r).all()


def test_intrinsic_reward_vanishes_for_identical_agents():
    """Identical trajectories: the identity predicts nothing (log q = log p) and every Q_i equals
    the team mean, so both mutual-information terms are zero (beta1 = 1, the unbiased weight)."""
    torch.manual_seed(2)
    qs = torch.randn(4, 7, 1, 5).expand(4, 7, 3, 5)
    log_lik = torch.randn(4, 7, 1).expand(4, 7, 3)
    assert torch.allclose(intrinsic_reward(log_lik, log_lik, qs, 1.0, 0.7), torch.zeros(4, 7, 1), atol=1e-6)
    assert torch.allclose(action_divergence(qs, 1.0), torch.zeros(4, 7, 3), atol=1e-6)
    different = torch.randn(4, 7, 3, 5)
    assert (action_divergence(different, 1.0) > 0).all()


def test_predictors_learn_and_read_targets():
    torch.manual_seed(3)
    pred = TransitionPredictors(input_dim=6, n_agents=2, obs_dim=4, hidden=16, lr=1e-2)
    x, ids = torch.randn(128, 6), torch.eye(2).repeat(64, 1)
    y = x[:, :4] * 2.0
    first = pred.fit(x, ids, y, 64, torch.Generator().manual_seed(0))
    for _ in range(10):
        last = pred.fit(x, ids, y, 64, torch.Generator().manual_seed(0))
    assert last < first
    log_q, _ = pred.log_probs(x, ids, y)
    for target, online in pred.target_pairs():
        target.load_state_dict(online.state_dict())
    log_q_after, _ = pred.log_probs(x, ids, y)
    assert log_q_after.mean() > log_q.mean() and (log_q_after <= 0).all()


def test_anneal_factor():
    assert anneal_factor(5_000_000, False, 1_000_000, 5.0) == 1.0
    assert anneal_factor(1_100_000, True, 1_000_000, 5.0) == 0.5
    assert anneal_factor(2_000_000, True, 1_000_000, 5.0) == 0.0


def test_one_update_moves_parameters_and_round_trips():
    learner = build_learner(CDSConfig, "cds", predictor_hidden_dim=16, predictor_batch_size=8)
    nets = lambda l: [flat(l.mac.agent), flat(l.mixer), flat(l.predictors.with_id), flat(l.predictors.without_id)]
    before = nets(learner)
    out = learner.train(make_batch(), t_env=10, episode_num=1)
    assert all(torch.isfinite(torch.tensor(v)) for v in out.stats.values())
    assert {"loss", "intrinsic_reward_mean", "predictor_loss", "local_q_l1"} <= set(out.stats)
    assert not any(torch.equal(b, a) for b, a in zip(before, nets(learner)))
    buffer = io.BytesIO()
    torch.save(learner.state_dict(), buffer)
    buffer.seek(0)
    other = build_learner(CDSConfig, "cds", seed=9, predictor_hidden_dim=16, predictor_batch_size=8)
    other.load_state_dict(torch.load(buffer, weights_only=False))
    batch = make_batch(5)
    assert learner.train(batch, 20, 2).stats == other.train(batch, 20, 2).stats
    assert all(torch.equal(a, b) for a, b in zip(nets(learner), nets(other)))

"""QPLEX: the duplex dueling mixer's shapes, positivity of its weights, the IGM property by brute
force over all joint actions, and one learner update on a hand-built batch."""
import io
import itertools
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from components.episode_buffer import EpisodeBatch
from config.value_decomposition_schema import QPLEXConfig
from controllers import REGISTRY as mac_REGISTRY
from learners import REGISTRY as learner_REGISTRY
from modules.mixers import REGISTRY
from test_learners_unit import GROUPS, INFO, PREPROCESS, SCHEME, flat, make_batch


def build_learner(config_cls, name: str, seed: int = 0, info=INFO, **overrides):
    """A small learner of `config_cls` (also used by the RODE and CDS tests) on the hand-built episodes."""
    torch.manual_seed(seed)
    qmix_keys = {"mixing_embed_dim": 4} if "mixing_embed_dim" in config_cls.model_fields else {}  # RODE's mixers
    cfg = config_cls(name=name, env="matrix", seed=seed, hidden_dim=8, batch_size=3, hypernet_embed=8,
                     target_update_interval=2, **qmix_keys, **overrides)
    cfg.env_info = info
    mac = mac_REGISTRY[cfg.mac](SCHEME, GROUPS, cfg)
    scheme = {**SCHEME, **mac.extra_scheme()}
    full_scheme = EpisodeBatch(scheme, GROUPS, 1, 1, preprocess=PREPROCESS).scheme
    return learner_REGISTRY[cfg.learner](mac, full_scheme, None, cfg)


def mixer_args(n_agents=3, n_actions=4, state_dim=5, layers=1, kernels=4):
    info = SimpleNamespace(n_agents=n_agents, n_actions=n_actions, state_shape=state_dim)
    return SimpleNamespace(env_info=info, hypernet_embed=16, adv_hypernet_layers=layers, adv_hypernet_embed=16,
                           num_kernel=kernels, is_stop_gradient=True)


def joint_values(mixer, qs, state):
    """Q_tot of every joint action for one state: qs [N, A] -> dict joint action -> value."""
    n_agents, n_actions = qs.shape
    joints = list(itertools.product(range(n_actions), repeat=n_agents))
    actions = torch.tensor(joints)  # [J, N]
    chosen = qs.gather(1, actions.t()).t()  # [J, N]
    onehot = F.one_hot(actions, n_actions)
    max_qs = qs.max(dim=1).values.expand(len(joints), -1)
    out = mixer(chosen[:, None], state.expand(len(joints), 1, -1), onehot[:, None], max_qs[:, None])
    return joints, out.view(-1)


def test_shapes_and_positive_weights():
    torch.manual_seed(0)
    for layers in (1, 2, 3):
        mixer = REGISTRY["dmaq"](mixer_args(layers=layers))
        qs, states = torch.randn(2, 7, 3), torch.randn(2, 7, 5)
        onehot = F.one_hot(torch.randint(4, (2, 7, 3)), 4)
        assert mixer(qs, states, onehot, qs + 1.0).shape == (2, 7, 1)
        assert (mixer.advantage_weights(states, onehot) > 0).all()


@pytest.mark.parametrize("seed", range(5))
def test_igm_greedy_joint_action_is_per_agent_greedy(seed):
    torch.manual_seed(seed)
    mixer = REGISTRY["dmaq"](mixer_args(layers=1 + seed % 3, kernels=1 + seed))
    with torch.no_grad():
        for _ in range(4):
            qs, state = torch.randn(3, 4) * 3, torch.randn(5)
            joints, values = joint_values(mixer, qs, state)
            assert joints[int(values.argmax())] == tuple(qs.argmax(dim=1).tolist())


def test_igm_at_greedy_action_value_is_v_tot():
    """At the greedy joint action the advantage vanishes: Q_tot = sum_i (w_i max Q_i + b_i)."""
    torch.manual_seed(3)
    mixer = REGISTRY["dmaq"](mixer_args())
    qs, state = torch.randn(3, 4), torch.randn(5)
    greedy = qs.argmax(dim=1)
    out = mixer(qs.max(1).values[None, None], state[None, None], F.one_hot(greedy, 4)[None, None],
                qs.max(1).values[None, None])
    w = mixer.hyper_w(state).abs() + 1e-10
    assert torch.allclose(out.view(()), (w * qs.max(1).values + mixer.hyper_b(state)).sum(), atol=1e-5)


def test_monotone_in_each_agent_value_at_fixed_advantage():
    """V_tot is monotone in every Q_i (w_i > 0): raising all of an agent's values raises Q_tot."""
    torch.manual_seed(4)
    mixer = REGISTRY["dmaq"](mixer_args())
    qs, state = torch.randn(3, 4), torch.randn(5)
    onehot = F.one_hot(torch.tensor([1, 2, 0]), 4)
    base = mixer(qs.gather(1, torch.tensor([[1], [2], [0]])).view(1, 1, 3), state.view(1, 1, 5), onehot[None, None],
                 qs.max(1).values.view(1, 1, 3))
    shifted = qs.clone()
    shifted[1] += 2.0
    up = mixer(shifted.gather(1, torch.tensor([[1], [2], [0]])).view(1, 1, 3), state.view(1, 1, 5), onehot[None, None],
               shifted.max(1).values.view(1, 1, 3))
    assert up > base


def test_config_requires_dueling_mixer():
    with pytest.raises(ValueError):
        QPLEXConfig(name="qplex", env="matrix", mixer="qmix")


def test_one_update_moves_parameters_and_round_trips():
    learner = build_learner(QPLEXConfig, "qplex")
    before = [flat(learner.mac.agent), flat(learner.mixer)]
    out = learner.train(make_batch(), t_env=10, episode_num=1)
    assert all(torch.isfinite(torch.tensor(v)) for v in out.stats.values())
    assert not any(torch.equal(b, a) for b, a in zip(before, [flat(learner.mac.agent), flat(learner.mixer)]))
    buffer = io.BytesIO()
    torch.save(learner.state_dict(), buffer)
    buffer.seek(0)
    other = build_learner(QPLEXConfig, "qplex", seed=9)
    other.load_state_dict(torch.load(buffer, weights_only=False))
    batch = make_batch(5)
    assert learner.train(batch, 20, 2).stats == other.train(batch, 20, 2).stats
    assert INFO.n_agents == learner.mixer.n_agents

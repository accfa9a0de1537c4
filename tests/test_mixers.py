"""Mixers: VDN is the sum, QMIX is monotonic in every agent's value (dQtot/dQi >= 0), shapes hold."""
from types import SimpleNamespace

import torch

from modules.mixers import REGISTRY


def mixer_args(n_agents=3, state_dim=5, layers=2):
    info = SimpleNamespace(n_agents=n_agents, state_shape=state_dim)
    return SimpleNamespace(env_info=info, mixing_embed_dim=8, hypernet_layers=layers, hypernet_embed=16)


def test_vdn_is_the_sum():
    qs = torch.randn(4, 6, 3)
    out = REGISTRY["vdn"](mixer_args())(qs, torch.randn(4, 6, 5))
    assert out.shape == (4, 6, 1)
    assert torch.allclose(out.squeeze(-1), qs.sum(-1))


def test_qmix_shapes_and_monotonicity():
    torch.manual_seed(0)
    for layers in (1, 2):
        mixer = REGISTRY["qmix"](mixer_args(layers=layers))
        qs = torch.randn(4, 6, 3, requires_grad=True) * 5
        qs.retain_grad()
        states = torch.randn(4, 6, 5)
        out = mixer(qs, states)
        assert out.shape == (4, 6, 1)
        out.sum().backward()
        assert (qs.grad >= 0).all()
        assert qs.grad.abs().sum() > 0


def test_qmix_is_monotone_along_each_agent():
    torch.manual_seed(1)
    mixer = REGISTRY["qmix"](mixer_args())
    states = torch.randn(1, 1, 5).expand(20, 1, 5)
    base = torch.randn(1, 1, 3).repeat(20, 1, 1)
    for agent in range(3):
        qs = base.clone()
        qs[:, 0, agent] = torch.linspace(-10, 10, 20)
        out = mixer(qs, states).view(-1)
        assert (out[1:] - out[:-1] >= -1e-5).all()

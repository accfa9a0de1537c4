"""Contracts the code keeps, not only the docs: what the loop may call on a controller and a
learner, which keys an algorithm reads, and which controller and replay a learner works with."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from config.loader import ConfigError, available, load_layers, recursive_update
from config.resolve import resolve_config
from controllers import REGISTRY as MAC_REGISTRY
from controllers.base import Controller
from learners import REGISTRY as LEARNER_REGISTRY
from learners.base import Learner

MAIN = Path(__file__).resolve().parents[1] / "src" / "main.py"


def resolved(alg: str, env: str = "matrix", **updates):
    return resolve_config(recursive_update(load_layers(alg, env), updates))


# ------------------------------------------------------------------ declared types
def test_every_controller_and_learner_derives_from_its_base():
    assert all(issubclass(cls, Controller) for cls in MAC_REGISTRY.values())
    assert all(issubclass(cls, Learner) for cls in LEARNER_REGISTRY.values())


def test_controller_defaults_for_what_a_controller_may_not_need():
    class Fixed(Controller):
        def select_actions(self, ep_batch, t_ep, t_env, bs=slice(None), test_mode=False):
            return torch.zeros(1, 1, dtype=torch.long)

        def parameters(self):
            return iter(())

        def to(self, device):
            return self

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    mac = Fixed({}, {}, None)
    assert mac.test_variants() == ("",) and mac.extra_scheme() == {} and mac.step_extras() == {}
    mac.use_test_variant("")
    mac.init_hidden(4)
    assert mac.cuda() is mac  # a device move through `to`


def test_every_learner_declares_its_controller_and_replay_and_its_config_defaults_to_them():
    for name, learner in LEARNER_REGISTRY.items():
        assert learner.controllers and learner.buffers, name
        fields = learner.Config.model_fields
        assert fields["learner"].default == name
        assert fields["mac"].default in learner.controllers and fields["buffer"].default in learner.buffers


# ------------------------------------------------------------------ combinations
@pytest.mark.parametrize("alg, key, value, wanted", [
    ("qmix", "buffer", "prioritized_transitions", "episode"),
    ("qmix", "mac", "mazero_mac", "basic_mac"),
    ("mazero", "buffer", "episode", "prioritized_transitions"),
    ("mazero", "mac", "basic_mac", "mazero_mac"),
    ("mappo", "buffer", "episode", "on_policy"),
    ("rode", "mac", "basic_mac", "rode_mac"),
])
def test_a_controller_or_replay_the_learner_does_not_work_with_is_refused(alg, key, value, wanted):
    learner = load_layers(alg, "matrix")["learner"]
    kind = "controller" if key == "mac" else "replay"
    with pytest.raises(ConfigError, match=f"learner '{learner}' works with {kind} '{wanted}', not {key}='{value}'"):
        resolved(alg, **{key: value})


@pytest.mark.parametrize("alg, override, expected", [
    ("qmix", "buffer=prioritized_transitions", "buffer='prioritized_transitions'"),   # a bad combination
    ("mazero", "test_greedy=False", "'test_greedy' is not read by 'mazero'"),         # an unread key
])
def test_main_refuses_a_bad_config_before_any_work(alg, override, expected, tmp_path):
    proc = subprocess.run([sys.executable, str(MAIN), f"--config={alg}", "--env-config=matrix", "with",
                           override, f"results_dir={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "Configuration error" in proc.stderr and expected in proc.stderr
    assert not (tmp_path / "sacred").exists()


# ------------------------------------------------------------------ keys an algorithm reads
@pytest.mark.parametrize("alg, key, value", [
    ("mazero", "agent", "rnn"),
    ("mazero", "obs_last_action", True),
    ("mazero", "test_greedy", False),
    ("qplex", "mixing_embed_dim", 16),
    ("cds", "hypernet_layers", 1),
    ("mappo", "buffer_size", 100),
])
def test_a_key_the_algorithm_does_not_read_is_rejected_naming_key_and_algorithm(alg, key, value):
    learner = load_layers(alg, "matrix")["learner"]
    with pytest.raises(ConfigError, match=f"config key '{key}' is not read by '{alg}' \\(learner '{learner}'\\)"):
        resolved(alg, **{key: value})


@pytest.mark.parametrize("alg", ["mappo", "ippo", "mappo_smax"])
def test_ppo_refuses_a_batch_size_it_would_not_read(alg):
    with pytest.raises(ConfigError, match="does not read batch_size=64"):
        resolved(alg, batch_size=64)
    args = resolved(alg, batch_size_run=16, batch_size=16)  # the rollout's size, stated twice, is accepted
    assert args.batch_size_run == 16


@pytest.mark.parametrize("alg, overrides, key, switch", [
    ("mazero", {"policy_loss": "bc"}, "awpo_alpha=2.0, awpo_standardise=True, awpo_clip=3.0", "policy_loss=awpo"),
    ("mazero_paper", {"policy_loss": "bc", "awpo_alpha": 2.0}, "awpo_alpha=2.0", "policy_loss=awpo"),
    ("mazero_matrix", {"reanalyse_cache": False, "reanalyse_max_age": 50}, "reanalyse_max_age=50", "reanalyse_cache=True"),
    ("mazero_matrix", {"reanalyse_workers": 0, "reanalyse_ray_address": "auto"}, "reanalyse_ray_address='auto'",
     "reanalyse_workers >= 1"),
    ("mazero", {"off_policy_age_steps": 50}, "off_policy_age_steps=50", "off_policy_correction=True"),
    ("vdn", {"mixing_embed_dim": 16}, "mixing_embed_dim=16", "mixer=qmix"),
    ("qmix", {"target_update_tau": 0.5}, "target_update_tau=0.5", "target_update=soft"),
    ("mappo", {"return_estimator": "nstep", "gae_lambda": 0.9}, "gae_lambda=0.9", "return_estimator=gae"),
])
def test_a_key_its_switch_leaves_unread_is_refused(alg, overrides, key, switch):
    with pytest.raises(ConfigError, match=f"{re.escape(key)} would be ignored: read only with {re.escape(switch)}"):
        resolved(alg, **overrides)


def test_a_switched_off_key_at_its_default_is_accepted():
    args = resolved("mazero", policy_loss="bc", awpo_alpha=3.0, awpo_standardise=False, awpo_clip=None)
    assert args.policy_loss == "bc"


def test_mazero_reads_the_optimizer_key():
    from envs.multiagentenv import EnvInfo
    from run import build_scheme

    info = EnvInfo(n_agents=2, n_actions=3, obs_shape=4, state_shape=5, episode_limit=6, backend="test", noop_action=None)
    for name, optimiser in (("adam", torch.optim.Adam), ("rmsprop", torch.optim.RMSprop)):
        args = resolved("mazero_matrix", optimizer=name, hidden_dim=16, communication_layers=1, num_simulations=2,
                        reanalyse_workers=0)
        args.env_info = info
        scheme, groups, _ = build_scheme(info)
        mac = MAC_REGISTRY[args.mac](scheme, groups, args)
        learner = LEARNER_REGISTRY[args.learner](mac, scheme, None, args)
        try:
            assert type(learner.optimiser) is optimiser
        finally:
            learner.close()


def test_shipped_configs_set_only_keys_their_algorithm_reads():
    for alg in available("algs"):
        for env in available("envs"):
            raw = load_layers(alg, env)
            fields = LEARNER_REGISTRY[raw["learner"]].Config.model_fields
            assert set(raw) <= set(fields), (alg, env, set(raw) - set(fields))

"""gymma adapters: lbforaging (gymnasium) and mpe2 (pettingzoo parallel) behind MultiAgentEnv."""
from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from envs import EnvInfo, GymmaArgs, SerialVecEnv, make_env, make_vec_env

LBF = {"key": "lbforaging:Foraging-8x8-2p-3f-v3", "time_limit": 25}
RWARE = {"key": "rware:rware-tiny-2ag-v2", "time_limit": 70}
MPE = {"key": "mpe2:simple_spread_v3", "time_limit": 10}


def rollout(env, rng: np.random.Generator) -> tuple[float, int, dict]:
    total, steps, terminated, info = 0.0, 0, False, {}
    while not terminated:
        avail = env.get_avail_actions()
        actions = np.array([rng.choice(np.flatnonzero(a)) for a in avail])
        reward, terminated, info = env.step(actions)
        total += reward
        steps += 1
    return total, steps, info


def test_lbforaging_contract() -> None:
    env = make_env("gymma", LBF, seed=0)
    assert env.get_env_info() == EnvInfo(n_agents=2, n_actions=6, obs_shape=15, state_shape=30,
                                         episode_limit=25, backend="gymma", noop_action=None)
    obs, state, avail = env.get_obs(), env.get_state(), env.get_avail_actions()
    assert obs.shape == (2, 15) and obs.dtype == np.float32
    assert np.array_equal(state, obs.reshape(-1)) and state.dtype == np.float32
    assert avail.shape == (2, 6) and avail.dtype == np.int64 and np.all(avail == 1)
    rng = np.random.default_rng(0)
    for _ in range(3):
        env.reset()
        total, steps, info = rollout(env, rng)
        assert 1 <= steps <= 25 and total >= 0
        assert "episode_limit" not in info  # time-outs are terminal by default
    assert env.get_stats()["episodes"] == 3


def test_lbforaging_seeding_is_deterministic() -> None:
    a, b = make_env("gymma", LBF, seed=4), make_env("gymma", LBF, seed=4)
    assert np.array_equal(a.get_obs(), b.get_obs())
    for _ in range(5):
        actions = np.array([1, 3])
        assert a.step(actions) == b.step(actions)
        assert np.array_equal(a.get_obs(), b.get_obs())
    a.reset(seed=9)
    b.reset(seed=9)
    assert np.array_equal(a.get_obs(), b.get_obs())


def test_time_limit_overrides_the_env_own_cap() -> None:
    """lbforaging ends at 50 steps and rware at 500 by themselves; time_limit replaces both."""
    for args in [{**LBF, "time_limit": 70}, RWARE]:
        env = make_env("gymma", {**args, "continuing_episode": True}, seed=0)
        for t in range(70):  # action 0 is a no-op in both: nothing is ever collected or delivered
            _, terminated, info = env.step(np.zeros(2, dtype=np.int64))
            assert terminated == (t == 69)
        assert info == {"episode_limit": True}


def test_mpe2_simple_spread_contract_and_time_limit() -> None:
    env = make_env("gymma", {**MPE, "continuing_episode": True}, seed=1)
    info = env.get_env_info()
    assert (info.n_agents, info.n_actions, info.obs_shape, info.state_shape, info.episode_limit) == (3, 5, 18, 54, 10)
    total, steps, step_info = rollout(env, np.random.default_rng(1))
    assert steps == 10 and step_info == {"episode_limit": True}
    assert total < 0  # simple_spread rewards are negative distances, summed over the 3 agents


def test_serial_vec_env_over_gymma() -> None:
    vec = make_vec_env("gymma", MPE, [0, 1])
    assert isinstance(vec, SerialVecEnv)
    single = make_env("gymma", MPE, seed=1)
    assert vec.get_obs().shape == (2, 3, 18) and vec.get_state().shape == (2, 54)
    frozen = vec.get_obs()[0].copy()
    for _ in range(3):
        rewards, terminated, infos = vec.step(np.array([[1, 2, 3], [1, 2, 3]]), np.array([False, True]))
        reward, _, _ = single.step(np.array([1, 2, 3]))
        assert rewards[0] == 0 and infos[0] == {} and rewards[1] == pytest.approx(reward)
    assert np.array_equal(vec.get_obs()[0], frozen)
    assert np.array_equal(vec.get_obs()[1], single.get_obs())


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("lbforaging-Foraging-8x8-2p-3f-v3", "module:EnvId"),
        ("pettingzoo.mpe:simple_spread_v3", "mpe2"),
        ("no_such_package_xyz:Env-v0", "not installed"),
    ],
)
def test_bad_keys_fail_at_validation(key: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GymmaArgs.model_validate({"key": key})

"""SMAX backend of `sc2`: interface contract, SMAC-like semantics, and the batched JAX step.

Compiling a map x batch shape costs seconds, so the module builds few envs: 3m at B=3 and B=1
(default args) and one B=1 env with a 5-step limit.
"""
from __future__ import annotations

import numpy as np
import pytest

from envs import EnvInfo, make_env, make_vec_env
from envs.smax_env import NOOP_ACTION, SMAXEnv, SMAXVecEnv

SEEDS = [11, 12, 13]
ARGS = {"map_name": "3m", "backend": "smax"}


def focus_fire(avail: np.ndarray) -> np.ndarray:
    """Scripted policy that wins 3m about a third of the time: shoot the lowest-index enemy in
    range, else walk east (towards the enemy start), dead agents stop."""
    actions = np.full(avail.shape[:-1], NOOP_ACTION, dtype=np.int64)
    for idx in np.ndindex(*avail.shape[:-1]):
        attack = np.flatnonzero(avail[idx][5:])
        if attack.size:
            actions[idx] = 5 + attack[0]
        elif avail[idx][1]:
            actions[idx] = 1
    return actions


def random_available(rng: np.random.Generator, avail: np.ndarray) -> np.ndarray:
    p = avail / avail.sum(-1, keepdims=True)
    return (p.cumsum(-1) > rng.random(p.shape[:-1])[..., None]).argmax(-1).astype(np.int64)


@pytest.fixture(scope="module")
def vec() -> SMAXVecEnv:
    env = make_vec_env("sc2", ARGS, SEEDS)
    assert isinstance(env, SMAXVecEnv)
    return env


@pytest.fixture(scope="module")
def singles() -> list[SMAXEnv]:
    envs = [make_env("sc2", ARGS, s) for s in SEEDS]
    assert all(isinstance(e, SMAXEnv) for e in envs)
    return envs


def test_env_info_and_shapes(vec: SMAXVecEnv) -> None:
    vec.reset(SEEDS)
    info = vec.get_env_info()
    # 3m: obs 13*(3-1)+13*3+10 = 75; state 12*6 = 72 + last actions 3*8 (state_last_action default True)
    assert info == EnvInfo(n_agents=3, n_actions=8, obs_shape=75, state_shape=72 + 24,
                           episode_limit=60, backend="smax", noop_action=4, move_actions=(0, 1, 2, 3))
    obs, state, avail = vec.get_obs(), vec.get_state(), vec.get_avail_actions()
    assert obs.shape == (3, 3, 75) and obs.dtype == np.float32 and obs.flags.writeable
    assert state.shape == (3, 96) and state.dtype == np.float32 and state.flags.writeable
    assert avail.shape == (3, 3, 8) and avail.dtype == np.int64
    assert set(np.unique(avail)) <= {0, 1}
    assert np.all(avail[..., NOOP_ACTION] == 1)
    assert np.all((state >= 0) & (state <= 1))  # SMAC-like normalised state
    assert np.all(state[:, 72:] == 0)  # no last action yet


def test_vec_equals_single_envs_and_inactive_envs_are_frozen(vec: SMAXVecEnv, singles: list[SMAXEnv]) -> None:
    """B envs in one jitted call == B single envs with the same seeds and actions, even when some
    envs sit out steps (their state and PRNG keys must not move)."""
    vec.reset(SEEDS)
    for env, seed in zip(singles, SEEDS):
        env.reset(seed)
    rng = np.random.default_rng(0)
    done = np.zeros(3, dtype=bool)
    for t in range(200):
        active = ~done & (rng.random(3) < 0.7)
        if done.all():
            break
        before = (vec.get_obs(), vec.get_state(), vec.get_avail_actions())
        actions = random_available(rng, before[2]) if t % 2 else focus_fire(before[2])
        rewards, terminated, infos = vec.step(actions, active)
        for b, env in enumerate(singles):
            if active[b]:
                r, term, info = env.step(actions[b])
                assert r == pytest.approx(rewards[b], abs=1e-5)
                assert term == terminated[b] and info == infos[b]
            else:
                assert rewards[b] == 0 and not terminated[b] and infos[b] == {}
                assert np.array_equal(vec.get_obs()[b], before[0][b])
                assert np.array_equal(vec.get_state()[b], before[1][b])
                assert np.array_equal(vec.get_avail_actions()[b], before[2][b])
            np.testing.assert_allclose(vec.get_obs()[b], env.get_obs(), atol=1e-5)
            np.testing.assert_allclose(vec.get_state()[b], env.get_state(), atol=1e-5)
            assert np.array_equal(vec.get_avail_actions()[b], env.get_avail_actions())
        done |= terminated
    assert done.all()


def test_reset_with_seeds_is_reproducible(vec: SMAXVecEnv) -> None:
    vec.reset(SEEDS)
    first = vec.get_state()
    vec.reset(None)  # continues each env's own key stream: a new episode
    assert not np.allclose(first, vec.get_state())
    vec.reset(SEEDS)
    assert np.array_equal(first, vec.get_state())


def test_scripted_rollouts_battle_won_dead_agents_and_reward_scale(vec: SMAXVecEnv) -> None:
    """Returns stay in [0, 20] (SMAC's scale), a won episode returns at most 20 and at least the
    scaled win bonus (10), dead agents may only stop, and `battle_won` appears only on wins."""
    vec.reset(SEEDS)
    stats0 = vec.get_stats()
    wins = 0
    for episode in range(4):
        vec.reset(None)
        active = np.ones(3, dtype=bool)
        returns = np.zeros(3)
        steps = 0
        while active.any():
            avail = vec.get_avail_actions()
            dead = avail[..., :4].sum(-1) == 0  # a dead agent has no move actions
            assert np.all(avail[dead] == np.eye(8, dtype=np.int64)[NOOP_ACTION])
            rewards, terminated, infos = vec.step(focus_fire(avail), active)
            assert np.all((vec.get_state() >= 0) & (vec.get_state() <= 1))
            assert np.all(rewards >= -1e-6)
            returns += rewards
            steps += 1
            for b in np.flatnonzero(active):
                info = infos[b]
                assert set(info) == {"battle_won", "dead_allies", "dead_enemies"}
                assert info["battle_won"] == (terminated[b] and info["dead_enemies"] == 3 and info["dead_allies"] < 3)
                if terminated[b]:
                    assert info["dead_enemies"] == 3 or info["dead_allies"] == 3 or steps == 60
                    wins += info["battle_won"]
                    assert 0 <= returns[b] <= 20 + 1e-3
                    if info["battle_won"]:
                        assert returns[b] >= 10 - 1e-3
            active &= ~terminated
            assert steps <= 60
    assert wins > 0, "the focus-fire script should win some 3m battles"
    stats = vec.get_stats()
    assert stats["battles_game"] - stats0["battles_game"] == 12
    assert stats["battles_won"] - stats0["battles_won"] == wins
    assert 0 <= stats["win_rate"] <= 1


def test_unavailable_action_is_rejected(vec: SMAXVecEnv) -> None:
    vec.reset(SEEDS)
    actions = np.full((3, 3), 5)  # attack enemy 0: out of range at the start
    with pytest.raises(ValueError, match="not available"):
        vec.step(actions, np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="actions must be"):
        vec.step(np.zeros((2, 3), dtype=np.int64), np.ones(3, dtype=bool))


def test_timeout_is_terminal_or_flagged_and_obs_last_action() -> None:
    """A 5-step limit with everyone stopping: the episode ends by time-out at step 5; by default
    without the `episode_limit` flag, with `continuing_episode` with it. `obs_last_action` appends
    the one-hot last actions of all agents to every agent's observation."""
    args = {**ARGS, "episode_limit": 5, "obs_last_action": True, "state_last_action": False}
    for continuing in (False, True):
        env = make_env("sc2", {**args, "continuing_episode": continuing}, seed=3)
        info = env.get_env_info()
        assert info.episode_limit == 5 and info.obs_shape == 75 + 24 and info.state_shape == 72
        assert np.all(env.get_obs()[:, 75:] == 0)
        actions = np.array([0, 2, NOOP_ACTION])  # north, south, stop: out of the enemies' way
        for t in range(5):
            _, terminated, step_info = env.step(actions)
            expected = np.zeros((3, 8), dtype=np.float32)
            expected[np.arange(3), actions] = 1
            assert np.all(env.get_obs()[:, 75:] == expected.reshape(-1))
            assert terminated == (t == 4)
        assert not step_info["battle_won"]
        assert step_info.get("episode_limit", False) is continuing
        assert env.get_stats()["timeouts"] == 1


def test_branch_copies_one_env_with_own_streams_and_leaves_the_original_alone(vec: SMAXVecEnv) -> None:
    """`branch` (Monte Carlo values from one state): every copy starts exactly at the chosen env's
    state, copies given the same actions diverge (each has its own PRNG stream; SMAX's step is
    stochastic), the same seed replays the same copies, and stepping them never moves the source."""
    rng = np.random.default_rng(1)
    vec.reset(SEEDS)
    for _ in range(4):
        vec.step(random_available(rng, vec.get_avail_actions()), np.ones(3, dtype=bool))
    source = (vec.get_obs(), vec.get_state(), vec.get_avail_actions())
    source_stats = vec.get_stats()
    copies = vec.branch(1, 4, seed=7)
    again = vec.branch(1, 4, seed=7)
    assert copies.num_envs == 4 and vec.num_envs == 3
    for got, want in zip((copies.get_obs(), copies.get_state(), copies.get_avail_actions()), source):
        assert all(np.array_equal(row, want[1]) for row in got)
    trajectories = []
    for env in (copies, again):
        observed = []
        for _ in range(8):
            rewards, terminated, _ = env.step(focus_fire(env.get_avail_actions()), np.ones(4, dtype=bool))
            observed.append((env.get_obs(), rewards))
        trajectories.append(observed)
    for (obs_a, r_a), (obs_b, r_b) in zip(*trajectories):
        assert np.array_equal(obs_a, obs_b) and np.array_equal(r_a, r_b)
    final_obs = trajectories[0][-1][0]
    assert any(not np.array_equal(final_obs[0], final_obs[i]) for i in range(1, 4))
    assert np.array_equal(vec.get_obs(), source[0]) and np.array_equal(vec.get_state(), source[1])
    assert vec.get_stats() == source_stats  # the copies' battles count in their own stats only
    with pytest.raises(ValueError, match="env_index"):
        vec.branch(3, 2, seed=0)
    with pytest.raises(ValueError, match="copies"):
        vec.branch(0, 0, seed=0)

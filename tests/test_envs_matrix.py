"""Matrix games: interface, known returns of known joint policies, and the removed tie-order trap."""
from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from envs import EnvInfo, MatrixArgs, SerialVecEnv, make_env, make_vec_env
from envs.matrix_games import PAYOFFS, MatrixGameEnv

GAMES = sorted(PAYOFFS)
OPTIMAL = {"matgame1": 80.0, "matgame2": 80.0, "matgame3": 100.0, "matgame4": 100.0}
SAFE = {"matgame1": 0.0, "matgame2": 0.0, "matgame3": 90.0, "matgame4": 100.0}


def play(env: MatrixGameEnv, joint_action: tuple[int, int]) -> float:
    env.reset()
    total, terminated, steps = 0.0, False, 0
    while not terminated:
        reward, terminated, _ = env.step(np.array(joint_action))
        total += reward
        steps += 1
    assert steps == env.get_env_info().episode_limit
    return total


def test_interface() -> None:
    env = make_env("matrix", {"map_name": "matgame2"}, seed=0)
    assert env.get_env_info() == EnvInfo(n_agents=2, n_actions=3, obs_shape=11, state_shape=11,
                                         episode_limit=10, backend="matrix", noop_action=None)
    obs, state, avail = env.get_obs(), env.get_state(), env.get_avail_actions()
    assert obs.shape == (2, 11) and obs.dtype == np.float32
    assert state.shape == (11,) and state.dtype == np.float32
    assert avail.shape == (2, 3) and avail.dtype == np.int64 and np.all(avail == 1)
    for t in range(10):
        assert np.array_equal(env.get_state(), np.eye(11, dtype=np.float32)[t])  # one-hot step counter
        assert np.array_equal(env.get_obs(), np.stack([env.get_state()] * 2))
        _, terminated, info = env.step(np.array([0, 1]))
        assert terminated == (t == 9) and info == {}
    with pytest.raises(RuntimeError):
        env.step(np.array([0, 0]))
    with pytest.raises(ValueError):
        make_env("matrix", {"map_name": "matgame2"}, seed=0).step(np.array([0, 3]))


@pytest.mark.parametrize("game", GAMES)
@pytest.mark.parametrize("shuffle", [False, True])
def test_optimal_and_safe_joint_actions_give_known_returns(game: str, shuffle: bool) -> None:
    for seed in range(3):
        env = make_env("matrix", {"map_name": game, "shuffle_actions": shuffle}, seed=seed)
        assert isinstance(env, MatrixGameEnv)
        assert env.optimal_return == OPTIMAL[game] and env.safe_return == SAFE[game]
        stats = env.get_stats()
        assert stats["optimal_return"] == OPTIMAL[game] and stats["safe_return"] == SAFE[game]
        for joint in np.argwhere(env.payoff == env.payoff.max()):  # in this instance's labels
            assert play(env, joint) == OPTIMAL[game]
        # The safe equilibrium in this instance's labels: map the unpermuted safe cell through the permutation.
        safe_original = {"matgame1": (1, 1), "matgame2": (0, 0), "matgame3": (1, 1), "matgame4": (0, 2)}[game]
        joint = tuple(int(np.flatnonzero(env.permutations[k] == safe_original[k])[0]) for k in range(2))
        assert play(env, joint) == SAFE[game]


def test_unshuffled_tables_match_the_reference() -> None:
    for game in GAMES:
        env = make_env("matrix", {"map_name": game, "shuffle_actions": False}, seed=5)
        assert np.array_equal(env.payoff, np.asarray(PAYOFFS[game], dtype=np.float32))
    # The trap exists without shuffling: always playing action 0 is optimal on matgame1 and matgame3.
    assert play(make_env("matrix", {"map_name": "matgame1", "shuffle_actions": False}, seed=0), (0, 0)) == 80


def test_always_action_zero_is_not_optimal_across_seeds() -> None:
    """With shuffled labels no algorithm can win by favouring action index 0."""
    optimal_hits, total, returns, best = 0, 0, [], []
    for game in GAMES:
        for seed in range(10):
            env = make_env("matrix", {"map_name": game}, seed=seed)
            ret = play(env, (0, 0))
            optimal_hits += ret == env.optimal_return
            total += 1
            returns.append(ret)
            best.append(env.optimal_return)
    assert optimal_hits / total < 0.3  # 1/9 expected on games with a unique optimum
    assert np.mean(returns) < 0.5 * np.mean(best)


def test_permutation_is_fixed_per_instance_differs_across_seeds_and_is_shared_by_a_batch() -> None:
    env = make_env("matrix", {"map_name": "matgame2"}, seed=1)
    perm = env.permutations.copy()
    env.reset(seed=99)  # a reset seed does not relabel the actions
    assert np.array_equal(env.permutations, perm)
    perms = {make_env("matrix", {"map_name": "matgame2"}, seed=s).permutations.tobytes() for s in range(10)}
    assert len(perms) > 3
    vec = make_vec_env("matrix", {"map_name": "matgame2"}, [7, 8, 9])
    assert isinstance(vec, SerialVecEnv)
    tables = [e.payoff for e in vec.envs]  # type: ignore[attr-defined]
    assert all(np.array_equal(t, tables[0]) for t in tables)
    pinned = make_vec_env("matrix", {"map_name": "matgame2", "permutation_seed": 8}, [7, 8, 9])
    assert np.array_equal(pinned.envs[0].payoff, make_env("matrix", {"map_name": "matgame2"}, seed=8).payoff)  # type: ignore[attr-defined]


def test_vec_env_steps_and_freezes_inactive_envs() -> None:
    vec = make_vec_env("matrix", {"map_name": "matgame4", "continuing_episode": True}, [0, 1])
    vec.reset([0, 1])
    active = np.array([True, False])
    for _ in range(10):
        rewards, terminated, infos = vec.step(np.zeros((2, 2), dtype=np.int64), active)
        assert rewards[1] == 0 and not terminated[1] and infos[1] == {}
    assert terminated[0] and infos[0] == {"episode_limit": True}
    assert np.array_equal(vec.get_state()[1], np.eye(11, dtype=np.float32)[0])
    assert vec.get_obs().shape == (2, 2, 11) and vec.get_avail_actions().shape == (2, 2, 3)
    stats = vec.get_stats()
    assert stats["episodes"] == 1 and stats["optimal_return"] == 100.0


def test_args_validation() -> None:
    with pytest.raises(ValidationError, match="matgame1"):
        MatrixArgs.model_validate({"map_name": "matgame9"})
    with pytest.raises(ValidationError, match="shufle_actions"):
        MatrixArgs.model_validate({"shufle_actions": False})

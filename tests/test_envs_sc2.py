"""The StarCraft II backend's plumbing, against a stand-in `smac` package (no game needed):
backend resolution, SMAC map validation, key pass-through, numpy conversion."""
from __future__ import annotations

import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from envs import SC2Args, SerialVecEnv, make_env, make_vec_env

FAKE_SMAC = {
    "smac/__init__.py": "",
    "smac/env/__init__.py": "from smac.env.starcraft2.starcraft2 import StarCraft2Env\n",
    "smac/env/starcraft2/__init__.py": "",
    "smac/env/starcraft2/maps/__init__.py": "",
    "smac/env/starcraft2/maps/smac_maps.py": textwrap.dedent("""
        def get_smac_map_registry():
            return {"3m": {"limit": 60}, "MMM2": {"limit": 180}}
    """),
    "smac/env/starcraft2/starcraft2.py": textwrap.dedent("""
        CREATED = []

        class StarCraft2Env:
            def __init__(self, map_name, seed=None, **kwargs):
                self.map_name, self.seed, self.kwargs = map_name, seed, kwargs
                self.episode_limit = 60
                self.t = 0
                CREATED.append(self)

            def get_env_info(self):
                return {"n_agents": 3, "n_actions": 9, "obs_shape": 30, "state_shape": 48, "episode_limit": 60}

            def reset(self):
                self.t = 0

            def step(self, actions):
                self.t += 1
                return 1.5, self.t >= 2, {"battle_won": self.t >= 2, "dead_allies": 0}

            def get_obs(self):
                return [[0.5] * 30 for _ in range(3)]

            def get_state(self):
                return [0.25] * 48

            def get_avail_actions(self):
                return [[1] * 9 for _ in range(3)]

            def get_stats(self):
                return {"battles_won": 0, "battles_game": 0}

            def close(self):
                pass
    """),
}


@pytest.fixture()
def fake_smac(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for rel, text in FAKE_SMAC.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / "StarCraftII").mkdir()
    monkeypatch.setenv("SC2PATH", str(tmp_path / "StarCraftII"))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import smac.env.starcraft2.starcraft2 as module

        yield module
    finally:
        for name in [m for m in sys.modules if m == "smac" or m.startswith("smac.")]:
            del sys.modules[name]


def test_auto_picks_starcraft_when_installed_and_passes_smac_keys_through(fake_smac: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        args = SC2Args.model_validate({"map_name": "MMM2", "difficulty": "7", "reward_win": 100,
                                       "episode_limit": 5, "state_last_action": False})
    assert args.backend == "sc2"
    vec = make_vec_env("sc2", args.model_dump(), [3, 4])
    assert isinstance(vec, SerialVecEnv)
    created = fake_smac.CREATED[-2:]  # type: ignore[attr-defined]
    assert [e.seed for e in created] == [3, 4]
    assert created[0].kwargs["difficulty"] == "7" and created[0].kwargs["reward_win"] == 100
    assert created[0].kwargs["state_last_action"] is False and "step_mul" not in created[0].kwargs
    info = vec.get_env_info()
    assert (info.backend, info.noop_action, info.episode_limit, info.n_actions) == ("sc2", 0, 5, 9)
    assert vec.get_obs().dtype == np.float32 and vec.get_obs().shape == (2, 3, 30)
    assert vec.get_avail_actions().dtype == np.int64
    rewards, terminated, infos = vec.step(np.zeros((2, 3), dtype=np.int64), np.array([True, False]))
    assert rewards.tolist() == [1.5, 0.0] and infos[0]["battle_won"] is False and infos[1] == {}


def test_sc2_backend_validates_maps_and_rejects_smax_keys(fake_smac: object) -> None:
    with pytest.raises(ValidationError, match="known maps: 3m, MMM2"):
        SC2Args.model_validate({"map_name": "2m_vs_1z", "backend": "sc2"})
    with pytest.raises(ValidationError, match="attack_mode"):
        SC2Args.model_validate({"map_name": "3m", "backend": "sc2", "attack_mode": "random"})
    env = make_env("sc2", {"map_name": "3m", "backend": "sc2"}, seed=1)
    assert env.get_env_info().episode_limit == 60
    assert env.step(np.zeros(3, dtype=np.int64))[:2] == (1.5, False)
    assert env.step(np.zeros(3, dtype=np.int64))[1:] == (True, {"battle_won": True, "dead_allies": 0})

"""The real SMAC (oxwhirl/smac + StarCraft II) behind our MultiAgentEnv.

`smac` is imported lazily: it is optional, and PyPI's `smac` is SMAC3 (an unrelated HPO tool), so
availability means "`smac.env.StarCraft2Env` imports" and "a StarCraft II install exists".
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

from envs.multiagentenv import EnvInfo, MultiAgentEnv

SMAC_INSTALL_HINT = (
    "The sc2 backend needs the SMAC package from the SMAC authors and StarCraft II:\n"
    "  pip install git+https://github.com/oxwhirl/smac.git   (NOT `pip install smac`: that is SMAC3)\n"
    "  then install StarCraft II (https://github.com/oxwhirl/smac#installing-starcraft-ii) into\n"
    "  ~/StarCraftII or point SC2PATH at it, and copy SMAC's maps into StarCraftII/Maps/SMAC_Maps.\n"
    "Or use `env_args.backend=smax` (the jaxmarl SMAX simulator, no StarCraft II needed)."
)


def sc2_install_dir() -> Path:
    """Where SMAC looks for StarCraft II (SC2PATH, else ~/StarCraftII, as pysc2 on Linux)."""
    return Path(os.environ.get("SC2PATH", str(Path.home() / "StarCraftII"))).expanduser()


def sc2_unavailable_reason() -> str | None:
    """None when the real SMAC can run here, else a one-line reason."""
    try:
        if importlib.util.find_spec("smac") is None or importlib.util.find_spec("smac.env") is None:
            return "the SMAC package (oxwhirl/smac) is not installed"
    except (ImportError, ValueError):
        return "the SMAC package (oxwhirl/smac) is not installed"
    if not sc2_install_dir().is_dir():
        return f"StarCraft II was not found at {sc2_install_dir()} (set SC2PATH)"
    return None


def smac_map_names() -> list[str] | None:
    """SMAC's own map registry, or None when it cannot be read."""
    try:
        from smac.env.starcraft2.maps import smac_maps  # type: ignore[import-not-found]
    except ImportError:
        return None
    return sorted(smac_maps.get_smac_map_registry())


class SC2Env(MultiAgentEnv):
    """`smac.env.StarCraft2Env` with numpy outputs and our EnvInfo.

    SMAC seeds its game only at construction, so `reset(seed)` cannot reseed a running game; the
    seed given to the constructor (the runner's per-env seed) is what makes runs reproducible.
    """

    def __init__(self, map_name: str, seed: int, smac_kwargs: dict[str, Any], episode_limit: int | None) -> None:
        try:
            from smac.env import StarCraft2Env  # type: ignore[import-not-found]
        except ImportError as err:
            raise ImportError(SMAC_INSTALL_HINT) from err
        self._env = StarCraft2Env(map_name=map_name, seed=seed, **smac_kwargs)
        if episode_limit is not None:
            self._env.episode_limit = episode_limit
        raw = self._env.get_env_info()
        self._info = EnvInfo(
            n_agents=int(raw["n_agents"]),
            n_actions=int(raw["n_actions"]),
            obs_shape=int(raw["obs_shape"]),
            state_shape=int(raw["state_shape"]),
            episode_limit=int(self._env.episode_limit),
            backend="sc2",
            noop_action=0,  # SMAC: a dead agent may only take action 0 (no-op)
            move_actions=(2, 3, 4, 5),  # SMAC: north, south, east, west (1 is stop)
        )

    def reset(self, seed: int | None = None) -> None:
        self._env.reset()

    def step(self, actions: np.ndarray) -> tuple[float, bool, dict[str, Any]]:
        reward, terminated, info = self._env.step([int(a) for a in np.asarray(actions)])
        info = dict(info)
        info["battle_won"] = bool(info.get("battle_won", False))
        return float(reward), bool(terminated), info

    def get_obs(self) -> np.ndarray:
        return np.array(self._env.get_obs(), dtype=np.float32)

    def get_state(self) -> np.ndarray:
        return np.array(self._env.get_state(), dtype=np.float32)

    def get_avail_actions(self) -> np.ndarray:
        return np.array(self._env.get_avail_actions(), dtype=np.int64)

    def get_env_info(self) -> EnvInfo:
        return self._info

    def get_stats(self) -> dict[str, Any]:
        return dict(self._env.get_stats())

    def close(self) -> None:
        self._env.close()

"""Typed `env_args` for every registered environment (pydantic v2, unknown keys forbidden).

Validation is cheap and happens before any work: it never imports JAX, StarCraft II or the
gymnasium packages themselves (only checks that they can be found).
"""
from __future__ import annotations

import importlib.util
import warnings
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from envs.sc2_env import SMAC_INSTALL_HINT, sc2_unavailable_reason, smac_map_names
from envs.smax_scenarios import known_smax_maps


class BackendFallbackWarning(UserWarning):
    """`backend: auto` chose SMAX because StarCraft II is not available."""


class EnvArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


# SMAC keys that only the real StarCraft II backend understands (None: SMAC's own default).
SMAC_ONLY_KEYS = (
    "difficulty", "step_mul", "move_amount", "game_version", "obs_all_health", "obs_own_health",
    "obs_pathing_grid", "obs_terrain_height", "obs_instead_of_state", "obs_timestep_number",
    "state_timestep_number", "reward_sparse", "reward_only_positive", "reward_death_value", "reward_win",
    "reward_defeat", "reward_negative_scale", "replay_dir", "replay_prefix", "window_size_x",
    "window_size_y", "heuristic_ai", "heuristic_rest", "debug",
)
SMAX_ONLY_KEYS = ("attack_mode", "enemy_shoots")


class SC2Args(EnvArgs):
    """SMAC maps on StarCraft II (`sc2`) or on jaxmarl's SMAX (`smax`); SMAC's key names.

    After validation `backend` is never "auto": it holds the simulator that will run.
    """

    map_name: str = "3m"
    backend: Literal["auto", "sc2", "smax"] = "auto"
    continuing_episode: bool = Field(False, description="time-outs set info['episode_limit'] (bootstrap) instead of being plain terminals")
    obs_last_action: bool = Field(False, description="SMAX: append all agents' one-hot last actions to every agent's obs")
    state_last_action: bool = Field(True, description="append all agents' one-hot last actions to the state")
    reward_scale: bool = True
    reward_scale_rate: float = Field(20.0, gt=0, description="maximum episode return after scaling")
    episode_limit: int | None = Field(None, gt=0, description="None: SMAC's limit for the map")
    # SMAX only.
    attack_mode: Literal["closest", "random"] = "closest"
    enemy_shoots: bool = True
    # StarCraft II only: passed through to smac.env.StarCraft2Env.
    difficulty: str | None = None
    step_mul: int | None = None
    move_amount: int | None = None
    game_version: str | None = None
    obs_all_health: bool | None = None
    obs_own_health: bool | None = None
    obs_pathing_grid: bool | None = None
    obs_terrain_height: bool | None = None
    obs_instead_of_state: bool | None = None
    obs_timestep_number: bool | None = None
    state_timestep_number: bool | None = None
    reward_sparse: bool | None = None
    reward_only_positive: bool | None = None
    reward_death_value: float | None = None
    reward_win: float | None = None
    reward_defeat: float | None = None
    reward_negative_scale: float | None = None
    replay_dir: str | None = None
    replay_prefix: str | None = None
    window_size_x: int | None = None
    window_size_y: int | None = None
    heuristic_ai: bool | None = None
    heuristic_rest: bool | None = None
    debug: bool | None = None

    @model_validator(mode="after")
    def _resolve_backend_and_map(self) -> SC2Args:
        explicit = self.backend != "auto"
        backend = self.backend
        if backend == "auto":
            reason = sc2_unavailable_reason()
            backend = "smax" if reason else "sc2"
            if reason:
                warnings.warn(
                    f"env 'sc2': {reason}; falling back to the SMAX simulator (jaxmarl). "
                    "Results are SMAX results, not StarCraft II results. "
                    "Set env_args.backend=smax to silence this warning.",
                    BackendFallbackWarning,
                    stacklevel=3,
                )
        elif backend == "sc2" and (reason := sc2_unavailable_reason()):
            raise ValueError(f"backend 'sc2': {reason}.\n{SMAC_INSTALL_HINT}")

        # A key of the other backend counts only when it carries a value (so that a full
        # `model_dump()` of validated args validates again).
        if backend == "smax":
            misplaced = sorted(k for k in SMAC_ONLY_KEYS if getattr(self, k) is not None)
        else:
            defaults = {k: type(self).model_fields[k].default for k in SMAX_ONLY_KEYS}
            misplaced = sorted(k for k in SMAX_ONLY_KEYS if getattr(self, k) != defaults[k])
        if misplaced and explicit:
            raise ValueError(f"env_args {misplaced} do nothing on backend '{backend}'; remove them")
        if misplaced:
            warnings.warn(f"env_args {misplaced} are ignored on backend '{backend}'", BackendFallbackWarning, stacklevel=3)

        known = known_smax_maps() if backend == "smax" else smac_map_names()
        if known is not None and self.map_name not in known:
            raise ValueError(f"unknown map '{self.map_name}' for backend '{backend}'; known maps: {', '.join(known)}")
        self.backend = backend
        return self

    def smac_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `smac.env.StarCraft2Env` (shared keys plus the SMAC-only ones that are set)."""
        kwargs: dict[str, Any] = {
            "continuing_episode": self.continuing_episode,
            "obs_last_action": self.obs_last_action,
            "state_last_action": self.state_last_action,
            "reward_scale": self.reward_scale,
            "reward_scale_rate": self.reward_scale_rate,
        }
        for key in SMAC_ONLY_KEYS:
            if getattr(self, key) is not None:
                kwargs[key] = getattr(self, key)
        return kwargs


class MatrixArgs(EnvArgs):
    """Repeated cooperative matrix games (MAZero's `matgame1`..`matgame4`)."""

    map_name: Literal["matgame1", "matgame2", "matgame3", "matgame4"] = "matgame1"
    shuffle_actions: bool = Field(True, description="relabel each agent's actions with a seeded permutation")
    permutation_seed: int | None = Field(None, description="None: the first env seed; fixed per env instance")
    episode_limit: int = Field(10, gt=0)
    continuing_episode: bool = False


class GymmaArgs(EnvArgs):
    """gymnasium multi-agent envs (`lbforaging:...`, `rware:...`) and pettingzoo parallel envs (`mpe2:...`)."""

    key: str = Field(description="'module:EnvId', e.g. lbforaging:Foraging-8x8-2p-3f-v3 or mpe2:simple_spread_v3")
    time_limit: int = Field(50, gt=0)
    continuing_episode: bool = False
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="passed to gymnasium.make / parallel_env")

    @field_validator("key")
    @classmethod
    def _check_key(cls, key: str) -> str:
        module, sep, name = key.partition(":")
        if not sep or not module or not name:
            raise ValueError(f"key '{key}' must look like 'module:EnvId' (e.g. 'lbforaging:Foraging-8x8-2p-3f-v3')")
        if module.startswith("pettingzoo.mpe"):
            raise ValueError("pettingzoo.mpe was removed in pettingzoo 1.27; use 'mpe2:<env>' (pip install mpe2)")
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ValueError(f"module '{module}' of key '{key}' is not installed (pip install {module.split('.')[0]})")
        return key

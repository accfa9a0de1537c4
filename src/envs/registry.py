"""Environment registry: name -> EnvSpec(args model, factories). Heavy imports happen in the factories."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

from pydantic import BaseModel

from envs.args import GymmaArgs, MatrixArgs, SC2Args
from envs.multiagentenv import MultiAgentEnv
from envs.vec_env import SerialVecEnv, VecEnv


@dataclass(frozen=True)
class EnvSpec:
    """How to validate and build one environment family."""

    name: str
    args_model: type[BaseModel]
    make_vec_env: Callable[[Any, Sequence[int]], VecEnv]
    make_env: Callable[[Any, int], MultiAgentEnv]


# ---- sc2: SMAC maps on StarCraft II or SMAX
def _sc2_make_env(args: SC2Args, seed: int) -> MultiAgentEnv:
    if args.backend == "smax":
        from envs.smax_env import SMAXEnv

        return SMAXEnv(args, seed)
    from envs.sc2_env import SC2Env

    return SC2Env(args.map_name, seed, args.smac_kwargs(), args.episode_limit)


def _sc2_make_vec_env(args: SC2Args, seeds: Sequence[int]) -> VecEnv:
    if args.backend == "smax":
        from envs.smax_env import SMAXVecEnv

        return SMAXVecEnv(args, list(seeds))
    return SerialVecEnv([_sc2_make_env(args, int(s)) for s in seeds])


# ---- matrix games: one permutation for the whole batch, so that all B envs play the same game
def _matrix_make_env(args: MatrixArgs, seed: int) -> MultiAgentEnv:
    from envs.matrix_games import MatrixGameEnv

    return MatrixGameEnv(args, seed)


def _matrix_make_vec_env(args: MatrixArgs, seeds: Sequence[int]) -> VecEnv:
    if args.permutation_seed is None:
        args = args.model_copy(update={"permutation_seed": int(seeds[0])})
    return SerialVecEnv([_matrix_make_env(args, int(s)) for s in seeds])


# ---- gymma: gymnasium / pettingzoo adapters
def _gymma_make_env(args: GymmaArgs, seed: int) -> MultiAgentEnv:
    from envs.gymma import GymmaEnv

    return GymmaEnv(args, seed)


def _gymma_make_vec_env(args: GymmaArgs, seeds: Sequence[int]) -> VecEnv:
    return SerialVecEnv([_gymma_make_env(args, int(s)) for s in seeds])


ENV_REGISTRY: dict[str, EnvSpec] = {
    "sc2": EnvSpec("sc2", SC2Args, _sc2_make_vec_env, _sc2_make_env),
    "matrix": EnvSpec("matrix", MatrixArgs, _matrix_make_vec_env, _matrix_make_env),
    "gymma": EnvSpec("gymma", GymmaArgs, _gymma_make_vec_env, _gymma_make_env),
}


def register_env(spec: EnvSpec) -> None:
    """Adds an environment family from outside this package (e.g. a user's own env)."""
    ENV_REGISTRY[spec.name] = spec


def get_env_spec(name: str) -> EnvSpec:
    if name not in ENV_REGISTRY:
        close = get_close_matches(name, ENV_REGISTRY, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown env '{name}'; registered: {', '.join(sorted(ENV_REGISTRY))}.{hint}")
    return ENV_REGISTRY[name]


def make_vec_env(name: str, env_args: dict[str, Any], seeds: Sequence[int]) -> VecEnv:
    """Validates `env_args` and builds B = len(seeds) envs (a shortcut for scripts and tests)."""
    spec = get_env_spec(name)
    return spec.make_vec_env(spec.args_model.model_validate(env_args), seeds)


def make_env(name: str, env_args: dict[str, Any], seed: int) -> MultiAgentEnv:
    """Validates `env_args` and builds one env."""
    spec = get_env_spec(name)
    return spec.make_env(spec.args_model.model_validate(env_args), seed)

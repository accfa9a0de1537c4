"""Environments: one MultiAgentEnv / VecEnv interface over SMAC (StarCraft II or SMAX), matrix games
and gymnasium/pettingzoo adapters. Importing this package is cheap: JAX and the simulators load
only when an env is built."""
from envs.args import BackendFallbackWarning, GymmaArgs, MatrixArgs, SC2Args
from envs.multiagentenv import EnvInfo, MultiAgentEnv
from envs.registry import ENV_REGISTRY, EnvSpec, get_env_spec, make_env, make_vec_env, register_env
from envs.vec_env import SerialVecEnv, VecEnv

__all__ = [
    "BackendFallbackWarning",
    "ENV_REGISTRY",
    "EnvInfo",
    "EnvSpec",
    "GymmaArgs",
    "MatrixArgs",
    "MultiAgentEnv",
    "SC2Args",
    "SerialVecEnv",
    "VecEnv",
    "get_env_spec",
    "make_env",
    "make_vec_env",
    "register_env",
]

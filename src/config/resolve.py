"""From a merged raw dict to a validated, typed config (and the names it refers to)."""
from __future__ import annotations

from typing import Any

import torch

from config.loader import ConfigError, check_registered, validate_model
from config.schema import RunConfig


def resolve_config(raw: dict[str, Any]) -> RunConfig:
    """Validates every key against the chosen learner's schema and the env's `env_args` schema.

    Registry lookups happen here, before any environment or network is built, so a typo in a
    component name fails with the list of valid names."""
    from components import REPLAY_REGISTRY
    from controllers import REGISTRY as MAC_REGISTRY
    from envs.registry import ENV_REGISTRY
    from learners import REGISTRY as LEARNER_REGISTRY
    from runners import REGISTRY as RUNNER_REGISTRY

    for key in ("learner", "env", "name"):
        if key not in raw:
            raise ConfigError(f"config key '{key}' is missing (set it in the alg/env yaml or with {key}=...)")
    check_registered("learner", raw["learner"], LEARNER_REGISTRY)
    config_cls: type[RunConfig] = LEARNER_REGISTRY[raw["learner"]].Config
    args = validate_model(config_cls, raw)
    assert isinstance(args, RunConfig)

    check_registered("env", args.env, ENV_REGISTRY)
    check_registered("runner", args.runner, RUNNER_REGISTRY)
    check_registered("mac", args.mac, MAC_REGISTRY)
    check_registered("buffer", args.buffer, REPLAY_REGISTRY)
    env_args = validate_model(ENV_REGISTRY[args.env].args_model, args.env_args, prefix="env_args.")
    args.env_args = env_args.model_dump()

    if args.runner == "episode" and args.batch_size_run != 1:
        raise ConfigError(f"runner 'episode' steps one environment; got batch_size_run={args.batch_size_run} (use runner=parallel)")
    if args.use_cuda and not torch.cuda.is_available():
        raise ConfigError("use_cuda=True but torch sees no CUDA device (torch.cuda.is_available() is False)")
    return args


def env_label(args: RunConfig) -> str:
    """Filesystem-safe `<env>-<backend>_<map>` label used in result paths."""
    import re

    env_args = args.env_args
    target = env_args.get("map_name") or env_args.get("key") or "default"
    backend = env_args.get("backend")
    env = f"{args.env}-{backend}" if backend else args.env
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{env}_{target}")

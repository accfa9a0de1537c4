"""From a merged raw dict to a validated, typed config (and the names it refers to)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from config.loader import ConfigError, check_registered, validate_model
from config.schema import RunConfig

if TYPE_CHECKING:
    from learners.base import Learner


def resolve_config(raw: dict[str, Any]) -> RunConfig:
    """Validates every key against the chosen learner's schema and the env's `env_args` schema.

    Registry lookups happen here, before any environment or network is built, so a typo in a
    component name fails with the list of valid names, a key only another algorithm reads is
    refused rather than ignored, and so is a controller or replay the learner does not work with."""
    from components import REPLAY_REGISTRY
    from controllers import REGISTRY as MAC_REGISTRY
    from envs.registry import ENV_REGISTRY
    from learners import REGISTRY as LEARNER_REGISTRY
    from runners import REGISTRY as RUNNER_REGISTRY

    for key in ("learner", "env", "name"):
        if key not in raw:
            raise ConfigError(f"config key '{key}' is missing (set it in the alg/env yaml or with {key}=...)")
    check_registered("learner", raw["learner"], LEARNER_REGISTRY)
    learner = LEARNER_REGISTRY[raw["learner"]]
    check_keys_read(raw, LEARNER_REGISTRY)
    args = validate_model(learner.Config, raw)
    assert isinstance(args, RunConfig)

    check_registered("env", args.env, ENV_REGISTRY)
    check_registered("runner", args.runner, RUNNER_REGISTRY)
    check_registered("mac", args.mac, MAC_REGISTRY)
    check_registered("buffer", args.buffer, REPLAY_REGISTRY)
    check_fits_learner(args, learner.controllers, learner.buffers)
    env_args = validate_model(ENV_REGISTRY[args.env].args_model, args.env_args, prefix="env_args.")
    args.env_args = env_args.model_dump()

    if args.runner == "episode" and args.batch_size_run != 1:
        raise ConfigError(f"runner 'episode' steps one environment; got batch_size_run={args.batch_size_run} (use runner=parallel)")
    if args.use_cuda and not torch.cuda.is_available():
        raise ConfigError("use_cuda=True but torch sees no CUDA device (torch.cuda.is_available() is False)")
    return args


def check_keys_read(raw: dict[str, Any], learners: dict[str, type[Learner]]) -> None:
    """Refuses the keys that the chosen learner's schema lacks but another learner's has: they
    would be silently ignored (`test_greedy` on MAZero, which has no action selector;
    `mixing_embed_dim` on QPLEX, whose mixer is not QMIX's).
    Keys no schema knows are left to validation, which suggests the closest valid one."""
    own = learners[raw["learner"]].Config.model_fields
    readers: dict[str, list[str]] = {}
    for name, learner in learners.items():
        for key in learner.Config.model_fields:
            readers.setdefault(key, []).append(name)
    unread = [key for key in raw if key not in own and key in readers]
    if unread:
        raise ConfigError("\n  ".join(
            f"config key '{key}' is not read by '{raw.get('name')}' (learner '{raw['learner']}'); only "
            f"{', '.join(readers[key])} read it: remove it from the command line or the yaml" for key in unread))


def check_fits_learner(args: RunConfig, controllers: tuple[str, ...], buffers: tuple[str, ...]) -> None:
    """The controller and replay must be ones the learner declares it works with: another
    controller lacks what the learner calls, another replay hands it batches of another kind."""
    for kind, key, value, allowed in (("controller", "mac", args.mac, controllers),
                                      ("replay", "buffer", args.buffer, buffers)):
        if value not in allowed:
            raise ConfigError(f"learner '{args.learner}' works with {kind} {' or '.join(map(repr, allowed))}, "
                              f"not {key}={value!r}")


def env_label(args: RunConfig) -> str:
    """Filesystem-safe `<env>-<backend>_<map>` label used in result paths."""
    import re

    env_args = args.env_args
    target = env_args.get("map_name") or env_args.get("key") or "default"
    backend = env_args.get("backend")
    env = f"{args.env}-{backend}" if backend else args.env
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{env}_{target}")


def inherited_from_checkpoint(merged: dict[str, Any], explicit: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
    """The seed and `env_args` of a checkpoint's config that the command line did not set.

    Resuming or evaluating with another seed or map silently changes the episodes (a matrix
    game's action relabelling, the fixed test scenarios), so the checkpoint's values win over the
    yaml defaults; only an explicit `with` override beats them. `env_args` of another environment
    are left alone: the checkpoint is refused for its `env` anyway."""
    from envs.registry import ENV_REGISTRY

    taken: dict[str, Any] = {}
    if "seed" not in explicit and saved.get("seed") is not None:
        taken["seed"] = saved["seed"]
    env = merged.get("env")
    if saved.get("env") == env and env in ENV_REGISTRY and isinstance(saved.get("env_args"), dict):
        known = ENV_REGISTRY[env].args_model.model_fields
        given = explicit.get("env_args") if isinstance(explicit.get("env_args"), dict) else {}
        env_args = {k: v for k, v in saved["env_args"].items() if k in known and k not in given}
        if env_args:
            taken["env_args"] = env_args
    return taken


def dotted_items(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"env_args": {"map_name": "x"}}` -> `{"env_args.map_name": "x"}`, for messages and records."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(dotted_items(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat

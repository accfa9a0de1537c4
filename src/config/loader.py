"""Layered yaml configs and their validation.

Order: `default.yaml` < `envs/ENV.yaml` < `algs/ALG.yaml` < command-line `with` overrides.
Nested dicts (`env_args`) merge key by key. Validation turns pydantic's errors into one
message per problem that names the key and suggests the closest valid one.
"""
from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

CONFIG_DIR = Path(__file__).resolve().parent


class ConfigError(ValueError):
    """A configuration problem found before any work started."""


def recursive_update(base: dict, updates: dict) -> dict:
    """Returns `base` updated with `updates`, merging nested dicts instead of replacing them."""
    merged = copy.deepcopy(base)
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = recursive_update(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def available(kind: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / kind).glob("*.yaml"))


def load_yaml_file(path: Path) -> dict:
    """One config file as a dict; a syntax error is one line naming the file, line and column
    (yaml's own message spans a dozen lines of context and a traceback)."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}{yaml_position(err)}: invalid yaml: {yaml_problem(err)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to values, got a {type(data).__name__}")
    return data


def yaml_position(err: yaml.YAMLError) -> str:
    """`:line:column` (1-based, as editors count) of a yaml error, where yaml knows it."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    return f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""


def yaml_problem(err: yaml.YAMLError) -> str:
    """yaml's reason in one line, with the construct it was reading when there is one."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    return f"{problem} ({context})" if context else problem


def read_yaml(kind: str, name: str) -> dict:
    path = CONFIG_DIR / kind / f"{name}.yaml"
    if not path.is_file():
        options = available(kind)
        hint = difflib.get_close_matches(name, options, n=1)
        raise ConfigError(
            f"unknown {kind[:-1]} config '{name}'" + (f"; did you mean '{hint[0]}'?" if hint else "")
            + f" (available: {', '.join(options)})"
        )
    data = load_yaml_file(path)
    parent = data.pop("extends", None)
    if parent is not None:  # an ablation file states only what it changes
        if parent == name:
            raise ConfigError(f"{path} extends itself")
        data = recursive_update(read_yaml(kind, parent), data)
    return data


def load_layers(alg: str, env: str) -> dict:
    """default < env < alg, as in pymarl (the algorithm's file has the last word before the CLI)."""
    config = load_yaml_file(CONFIG_DIR / "default.yaml")
    config = recursive_update(config, read_yaml("envs", env))
    return recursive_update(config, read_yaml("algs", alg))


def apply_dotted_updates(config: dict, updates: dict[str, Any]) -> dict:
    """Applies `{"env_args.map_name": "3m"}`-style updates."""
    nested: dict = {}
    for dotted, value in updates.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return recursive_update(config, nested)


def closest(key: str, options: list[str]) -> str | None:
    """The most similar option, or one the key extends or abbreviates (`lr_rate` -> `lr`)."""
    hint = difflib.get_close_matches(key, options, n=1, cutoff=0.6)
    if hint:
        return hint[0]
    related = [o for o in options if key.startswith(o + "_") or o.startswith(key)]
    return max(related, key=len) if related else None


def _suggest(key: str, model: type[BaseModel]) -> str:
    hint = closest(key, list(model.model_fields))
    return f"; did you mean '{hint}'?" if hint else ""


def format_validation_error(err: ValidationError, model: type[BaseModel], prefix: str = "") -> str:
    lines = []
    for e in err.errors():
        key = prefix + ".".join(str(p) for p in e["loc"]) if e["loc"] else prefix.rstrip(".") or "config"
        if e["type"] == "extra_forbidden":
            lines.append(f"unknown config key '{key}'{_suggest(str(e['loc'][-1]), model)}")
        else:
            shown = repr(e.get("input"))[:60]
            lines.append(f"invalid value for '{key}': {e['msg']} (got {shown})")
    return "\n  ".join(lines)


def validate_model(model: type[BaseModel], data: dict, prefix: str = "") -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, model, prefix)) from None


def check_registered(kind: str, name: str, registry: dict) -> None:
    if name not in registry:
        hint = difflib.get_close_matches(name, list(registry), n=1)
        raise ConfigError(
            f"unknown {kind} '{name}'" + (f"; did you mean '{hint[0]}'?" if hint else "")
            + f" (registered: {', '.join(sorted(registry))})"
        )

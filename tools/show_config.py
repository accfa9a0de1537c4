"""Every resolved value of a config, with where its default comes from.

    python -m tools.show_config --config=qmix --env-config=sc2 [key=value ...]

An alg or env yaml lists only what it changes from its schema's defaults, so the yaml alone does
not show what a run uses. This merges the yaml layers and the overrides and validates them as
`src/main.py` does (a bad key fails with the same message; with `checkpoint_path`, the seed and
`env_args` come from the checkpoint as they would in the run), then prints one
`key=value  # description` line per key in the schema's field order, `env_args` expanded with the env
schema's descriptions. It creates nothing: the run's preflight (results_dir, database URL) is not run.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from config.loader import ConfigError  # noqa: E402
from config.resolve import dotted_items  # noqa: E402
from config.schema import RunConfig  # noqa: E402
from envs.registry import ENV_REGISTRY  # noqa: E402
from main import resolved_run_config, split_argv, with_updates  # noqa: E402

ALIGN = 40  # values longer than this push their description further right instead of widening every line


def resolved_config(argv: list[str]) -> tuple[RunConfig, dict[str, Any]]:
    """The validated config of `--config=ALG --env-config=ENV [with] key=value ...`, as a run builds
    it, and the dotted keys a checkpoint supplied."""
    alg, env, rest = split_argv(argv)
    updates = with_updates(rest if "with" in rest else ["with", *rest])
    args, taken, _ = resolved_run_config(alg, env, updates)
    return args, dotted_items(taken)


def described_values(args: RunConfig, taken: dict[str, Any] | None = None) -> list[tuple[str, Any, str]]:
    """(key, value, description) in the schema's field order; `env_args` one row per env-schema field;
    a value taken from the checkpoint says so."""
    taken = taken or {}

    def described(key: str, description: str) -> str:
        return f"(from checkpoint) {description}".rstrip() if key in taken else description

    rows: list[tuple[str, Any, str]] = []
    for key, field in type(args).model_fields.items():
        if field.exclude:  # filled in at run time, not configurable
            continue
        if key == "env_args":
            env_fields = ENV_REGISTRY[args.env].args_model.model_fields
            rows += [(f"env_args.{name}", args.env_args[name], described(f"env_args.{name}", env_field.description or ""))
                     for name, env_field in env_fields.items() if name in args.env_args]
        else:
            rows.append((key, getattr(args, key), described(key, field.description or "")))
    return rows


def format_rows(rows: list[tuple[str, Any, str]]) -> list[str]:
    settings = [f"{key}={value!r}" for key, value, _ in rows]
    width = min(ALIGN, max(map(len, settings)))
    return [f"{setting:<{width}}  # {description}" if description else setting
            for setting, (_, _, description) in zip(settings, rows)]


def main(argv: list[str]) -> None:
    try:
        args, taken = resolved_config(argv)
    except ConfigError as err:  # worded as src/main.py words it
        print(f"Configuration error:\n  {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print("\n".join(format_rows(described_values(args, taken))))


if __name__ == "__main__":
    main(sys.argv[1:])

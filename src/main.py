"""Entry point: `python src/main.py --config=ALG --env-config=ENV [with key=value ...]`.

The layered yaml config and the command-line `with` overrides are merged and validated
*before* sacred starts, so a bad key or value fails in a second with a clear message. Sacred
then records the run (config, metrics, stdout, host, sources) under
`results/sacred/<alg>/<env>-<backend>_<map>/<id>/`, and also in MongoDB (`mongo_url`) or an SQL
database such as an SQLite file (`sql_url`) when asked."""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # JAX (SMAX) shares the machine with torch; GPU only on request
sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

from config.loader import ConfigError, load_layers, recursive_update  # noqa: E402
from config.resolve import dotted_items, env_label, inherited_from_checkpoint, resolve_config  # noqa: E402
from config.schema import RunConfig  # noqa: E402
from utils.checkpoint import CheckpointError, check_compatible, saved_config  # noqa: E402
from utils.preflight import check_checkpoint_path, preflight  # noqa: E402


def split_argv(argv: list[str]) -> tuple[str, str, list[str]]:
    """Removes `--config=ALG` and `--env-config=ENV` (also `--config ALG`) from argv."""
    found: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        for flag in ("--config", "--env-config"):
            if token == flag and i + 1 < len(argv):
                found[flag] = argv[i + 1]
                i += 1
                break
            if token.startswith(flag + "="):
                found[flag] = token.split("=", 1)[1]
                break
        else:
            rest.append(token)
        i += 1
    missing = [f for f in ("--config", "--env-config") if f not in found]
    if missing:
        raise ConfigError(f"missing {' and '.join(missing)} (usage: python src/main.py --config=ALG --env-config=ENV [with key=value ...])")
    return found["--config"], found["--env-config"], rest


def with_updates(argv: list[str]) -> dict[str, Any]:
    """The `with key=value` updates, parsed exactly as sacred will parse them."""
    from sacred.arg_parser import get_config_updates

    if "with" not in argv:
        return {}
    tokens = [t for t in argv[argv.index("with") + 1 :] if "=" in t and not t.startswith("-")]
    updates, _ = get_config_updates(tokens)
    return updates


def resolved_run_config(alg: str, env: str, explicit: dict[str, Any]) -> tuple[RunConfig, dict[str, Any], Path | None]:
    """The validated config of ALG on ENV with the `with` updates, and the keys taken from the
    checkpoint (and its path); no side effects, so tools can print what a run would use.

    With `checkpoint_path`, the checkpoint's seed and `env_args` replace the yaml defaults (not the
    user's explicit overrides) before sacred sees the config, so sacred records and uses them."""
    merged = recursive_update(load_layers(alg, env), explicit)
    args = resolve_config(merged)
    check_checkpoint_path(args)
    found = saved_config(args.checkpoint_path, args.load_step) if args.checkpoint_path else None
    if found is None:  # no checkpoint, or nothing readable: the restore says why
        return args, {}, None
    path, saved = found
    taken = inherited_from_checkpoint(merged, explicit, saved)
    args = resolve_config(recursive_update(merged, taken))
    try:  # refused here, before the run loads a replay of gigabytes only to refuse it then
        check_compatible(saved, args.model_dump(mode="json"), path)
    except CheckpointError as err:
        raise ConfigError(str(err)) from None
    return args, taken, path


def configure(argv: list[str]) -> tuple[RunConfig, list[str], dict[str, Any], Path | None]:
    """The validated and preflighted config, sacred's argv, and the keys taken from the checkpoint
    (and its path)."""
    alg, env, sacred_argv = split_argv(argv[1:])
    args, taken, taken_from = resolved_run_config(alg, env, with_updates(sacred_argv))
    preflight(args)
    return args, sacred_argv, taken, taken_from


def main(argv: list[str]) -> None:
    try:
        args, sacred_argv, taken, taken_from = configure(argv)
    except ConfigError as err:
        print(f"Configuration error:\n  {err}", file=sys.stderr)
        raise SystemExit(2) from None

    from sacred import SETTINGS, Experiment
    from sacred.observers import FileStorageObserver
    from sacred.utils import apply_backspaces_and_linefeeds

    from run import run
    from utils.checkpoint import seed_everything
    from utils.logging import Logger, get_console_logger

    SETTINGS["CAPTURE_MODE"] = args.capture_mode
    console = get_console_logger(args.name)  # log lines name the algorithm that runs
    ex = Experiment(f"{args.name}", save_git_info=False)
    ex.logger = console
    ex.captured_out_filter = apply_backspaces_and_linefeeds
    # Every key of the algorithm's schema is in sacred's base config (with its default), so any
    # valid key can be overridden with `with` and every run records the complete config.
    base = args.model_dump(mode="json")
    if base["seed"] is None:
        del base["seed"]  # sacred draws and records one
    ex.add_config(base)

    @ex.config_hook
    def validate_and_observe(config: dict, command_name: str, logger: Any) -> dict:
        """Re-validates the final config (with sacred's seed), records every resolved default
        and the backend actually used, and points the observers at the run's directory."""
        final = resolve_config(dict(config))
        label = env_label(final)
        ex.observers.append(FileStorageObserver(str(Path(final.results_dir) / "sacred" / final.name / label)))
        if final.mongo_url:
            from sacred.observers import MongoObserver

            ex.observers.append(MongoObserver(url=final.mongo_url, db_name=final.mongo_db))
        if final.sql_url:
            from utils.sql_observer import RunDatabaseObserver

            ex.observers.append(RunDatabaseObserver(final.sql_url, run_prefix=f"{final.name}/{label}"))
        return final.model_dump(mode="json")

    @ex.main
    def sacred_main(_run: Any, _config: dict) -> dict:
        args = resolve_config(dict(_config))
        seed_everything(args.seed)
        logger = Logger(console)
        logger.setup_sacred(_run)
        label = env_label(args)
        if args.use_tensorboard:
            logger.setup_tensorboard(str(Path(args.results_dir) / "tb_logs" / f"{args.name}__{label}__{_run._id}"))
        console.info(f"run {_run._id}: {args.name} on {label}, seed {args.seed}, device {args.device}")
        if taken:
            flat = dotted_items(taken)
            _run.info["from_checkpoint"] = flat
            console.info(f"from checkpoint {taken_from}: " + ", ".join(f"{k}={v!r}" for k, v in flat.items())
                         + " (set any of them with `with` to override)")
        exp = run(args, logger, label, sacred_run=_run)
        return {"t_env": exp.runner.t_env, "test_return_mean": logger.latest("test_return_mean"),
                "test_battle_won_mean": logger.latest("test_battle_won_mean")}

    ex.run_commandline([argv[0], *sacred_argv])


if __name__ == "__main__":
    main(sys.argv)

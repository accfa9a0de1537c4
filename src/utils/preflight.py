"""Checks that need the filesystem or several keys at once, run before any environment is built,
so a run that could never do what was asked fails in a second instead of after its setup."""
from __future__ import annotations

import tempfile
from pathlib import Path

from config.loader import ConfigError
from config.policy_schema import QConfig
from config.schema import RunConfig
from utils.checkpoint import CheckpointError, checkpoint_candidates


def preflight(args: RunConfig) -> None:
    check_results_dir(args)
    check_checkpoint_path(args)
    check_replay_can_fill(args)
    check_sql_url(args)


def check_results_dir(args: RunConfig) -> None:
    """Every record goes under `results_dir`: a file there, or a directory this process cannot
    write, would otherwise fail inside sacred's observer setup with a raw traceback.

    Writing a probe file is the only reliable test (`os.access` says yes to root on read-only
    places); the directory is created here, as the run would do a moment later."""
    path = Path(args.results_dir)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"results_dir '{path}' is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
            pass
    except OSError as err:
        raise ConfigError(f"results_dir '{path}' is not a writable directory: {err.strerror or err}") from None


def check_checkpoint_path(args: RunConfig) -> None:
    """The checkpoint to resume or evaluate exists (and so does an explicit `load_step`)."""
    if not args.checkpoint_path:
        return
    try:
        checkpoint_candidates(args.checkpoint_path, args.load_step)
    except (FileNotFoundError, CheckpointError) as err:
        raise ConfigError(f"checkpoint_path: {err}") from None


def check_replay_can_fill(args: RunConfig) -> None:
    """An episode replay (the Q-learners') never holds more than `buffer_size` episodes, so a
    larger batch would leave the learner waiting for ever without a word."""
    if isinstance(args, QConfig) and args.batch_size > args.buffer_size:
        raise ConfigError(
            f"batch_size={args.batch_size} episodes can never be sampled from an episode replay of "
            f"buffer_size={args.buffer_size}: lower batch_size or raise buffer_size"
        )


def check_sql_url(args: RunConfig) -> None:
    """A URL SQLAlchemy cannot parse, or a database driver that is not installed, fails now rather
    than in sacred's observer setup after the run has been configured."""
    if not args.sql_url:
        return
    try:
        from utils.sql_observer import check_sql_url as check
    except ImportError as err:
        raise ConfigError(f"sql_url needs SQLAlchemy ({err}): pip install -r requirements.txt") from None
    try:
        check(args.sql_url)
    except ValueError as err:
        raise ConfigError(str(err)) from None

"""Checks that need the filesystem or several keys at once, run before any environment is built,
so a run that could never do what was asked fails in a second instead of after its setup."""
from __future__ import annotations

from config.loader import ConfigError
from config.schema import RunConfig
from utils.checkpoint import CheckpointError, checkpoint_candidates


def preflight(args: RunConfig) -> None:
    check_checkpoint_path(args)
    check_replay_can_fill(args)


def check_checkpoint_path(args: RunConfig) -> None:
    """The checkpoint to resume or evaluate exists (and so does an explicit `load_step`)."""
    if not args.checkpoint_path:
        return
    try:
        checkpoint_candidates(args.checkpoint_path, args.load_step)
    except (FileNotFoundError, CheckpointError) as err:
        raise ConfigError(f"checkpoint_path: {err}") from None


def check_replay_can_fill(args: RunConfig) -> None:
    """An episode replay never holds more than `buffer_size` episodes, so a larger batch would
    leave the learner waiting for ever without a word."""
    if args.buffer == "episode" and args.batch_size > args.buffer_size:
        raise ConfigError(
            f"batch_size={args.batch_size} episodes can never be sampled from an episode replay of "
            f"buffer_size={args.buffer_size}: lower batch_size or raise buffer_size"
        )

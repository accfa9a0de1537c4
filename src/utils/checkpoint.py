"""Full-state checkpoints: written atomically, found by step, restoring every RNG."""
from __future__ import annotations

import os
import random
import secrets
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from config.resolve import dotted_items

CHECKPOINT_FILE = "checkpoint.pt"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be found, read or used by this run; the message names the file."""


COMPARED_KEYS = ("name", "learner", "env", "env_args.map_name")  # what a checkpoint must share with the run
# where and how long a run goes, not what it trains: a resume sets them, so they differ by design
RUN_PLACEMENT_KEYS = frozenset({"checkpoint_path", "load_step", "evaluate", "results_dir", "t_max", "save_model",
                                "save_model_interval", "save_replay_buffer", "label", "use_cuda", "device",
                                "torch_threads"})


def save_checkpoint(directory: str | Path, state: dict[str, Any]) -> Path:
    """Writes `<directory>/checkpoint.pt` via a temporary file, so a crash never leaves half a file.

    The temporary name is unique to this process and call, so two writers never share one."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CHECKPOINT_FILE
    tmp = directory / f"{CHECKPOINT_FILE}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def find_checkpoint(checkpoint_path: str | Path, load_step: int = 0) -> Path:
    """Accepts a checkpoint file, a step directory or a run's model directory of step directories.

    `load_step=0` takes the latest step; any other `load_step` must be a saved step."""
    return checkpoint_candidates(checkpoint_path, load_step)[0]


def checkpoint_candidates(checkpoint_path: str | Path, load_step: int = 0) -> list[Path]:
    """The checkpoints `checkpoint_path` may load, preferred first: every saved step, newest first,
    for a run's model directory with `load_step=0`; otherwise exactly the one asked for."""
    path = Path(checkpoint_path)
    if path.is_file():
        return [path]
    if (path / CHECKPOINT_FILE).is_file():
        return [path / CHECKPOINT_FILE]
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint_path '{path}' does not exist")
    steps = checkpoint_steps(path)
    if load_step == 0:
        return [path / str(step) / CHECKPOINT_FILE for step in reversed(steps)]
    if load_step not in steps:
        raise CheckpointError(f"load_step={load_step} is not saved under '{path}'; saved steps: {steps}")
    return [path / str(load_step) / CHECKPOINT_FILE]


def checkpoint_steps(run_dir: str | Path) -> list[int]:
    """The saved env steps of a run's model directory (`<t_env>/checkpoint.pt`), ascending."""
    run_dir = Path(run_dir)
    steps = sorted(int(p.name) for p in run_dir.iterdir() if p.name.isdigit() and (p / CHECKPOINT_FILE).is_file())
    if not steps:
        raise FileNotFoundError(f"no '<t_env>/{CHECKPOINT_FILE}' under '{run_dir}'")
    return steps


def load_checkpoint(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    """Reads one checkpoint; a file that is not one (truncated, overwritten, foreign) is a
    `CheckpointError` naming the file and what went wrong, not a bare unpickling error."""
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch.load raises whatever the damaged bytes provoke
        raise CheckpointError(f"cannot read checkpoint '{path}': {type(err).__name__}: {err}") from err
    if not isinstance(state, dict) or "learner" not in state:
        raise CheckpointError(f"cannot read checkpoint '{path}': not a training checkpoint (no 'learner' state)")
    return state


def load_readable_checkpoint(
    checkpoint_path: str | Path, load_step: int, device: str = "cpu", warn: Callable[[str], Any] = print
) -> tuple[Path, dict[str, Any]]:
    """Loads the checkpoint `checkpoint_path`/`load_step` names. With `load_step=0` on a run's model
    directory a damaged newest checkpoint is skipped (with a warning) for the newest readable one, so
    a crash during a save costs one interval; an explicitly named checkpoint never falls back."""
    candidates = checkpoint_candidates(checkpoint_path, load_step)
    failures: list[str] = []
    for path in candidates:
        try:
            state = load_checkpoint(path, device)
        except CheckpointError as err:
            if len(candidates) == 1:
                raise
            failures.append(str(err))
            warn(f"{err}; trying an older checkpoint")
            continue
        if failures:
            warn(f"loading {path}, the newest readable checkpoint ({len(failures)} newer unreadable)")
        return path, state
    raise CheckpointError("no readable checkpoint under '{}':\n  {}".format(checkpoint_path, "\n  ".join(failures)))


def saved_config(checkpoint_path: str | Path, load_step: int = 0) -> tuple[Path, dict[str, Any]] | None:
    """The config stored in the checkpoint a resume would load (the newest readable one with
    `load_step=0`), read before the run is configured; None if no readable checkpoint holds one.

    Tensors are memory-mapped, not read, so a checkpoint with a large replay costs little here."""
    for path in checkpoint_candidates(checkpoint_path, load_step):
        try:
            state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        except Exception:  # unreadable: the restore names it and falls back
            continue
        config = state.get("config") if isinstance(state, dict) else None
        if isinstance(config, dict):
            return path, config
    return None


def config_value(config: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        config = config.get(part) if isinstance(config, dict) else None
    return config


def setting_differences(saved: dict[str, Any], current: dict[str, Any], keys: Iterable[str]) -> list[str]:
    """`key: checkpoint <value>, this run <value>` for each dotted key whose values differ."""
    return [f"{key}: checkpoint {config_value(saved, key)!r}, this run {config_value(current, key)!r}"
            for key in keys if config_value(saved, key) != config_value(current, key)]


def check_compatible(saved: dict[str, Any], current: dict[str, Any], path: str | Path) -> None:
    """Refuses a checkpoint of another algorithm or environment before its weights are loaded,
    where the mismatch would otherwise surface as a missing key or a tensor size error."""
    mismatches = setting_differences(saved, current, COMPARED_KEYS)
    if mismatches:
        raise CheckpointError(f"checkpoint '{path}' does not match this run's config:\n  " + "\n  ".join(mismatches))


def weights_mismatch(path: str | Path, saved: dict[str, Any] | None, current: dict[str, Any]) -> str:
    """Why a checkpoint's weights do not fit this run's networks, in settings rather than tensor
    names: every key whose value differs from the checkpoint's (e.g. a default changed since it
    was saved), for the user to pass back as `with` overrides."""
    message = f"checkpoint '{path}' holds weights of another architecture than this run's networks"
    if not saved:
        return message
    shared = sorted((dotted_items(saved).keys() & dotted_items(current).keys()) - RUN_PLACEMENT_KEYS)
    differing = setting_differences(saved, current, shared)
    if not differing:
        return message + "; no setting differs, so the code's networks changed since it was saved"
    return message + "; settings that differ (pass the checkpoint's to resume it):\n  " + "\n  ".join(differing)


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)

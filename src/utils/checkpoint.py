"""Full-state checkpoints: written atomically, found by step, restoring every RNG."""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_FILE = "checkpoint.pt"


def save_checkpoint(directory: str | Path, state: dict[str, Any]) -> Path:
    """Writes `<directory>/checkpoint.pt` via a temporary file, so a crash never leaves half a file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CHECKPOINT_FILE
    tmp = directory / (CHECKPOINT_FILE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def find_checkpoint(checkpoint_path: str | Path, load_step: int = 0) -> Path:
    """Accepts a checkpoint file, a step directory or a run's model directory of step directories.

    `load_step=0` takes the latest step; otherwise the step closest to `load_step`."""
    path = Path(checkpoint_path)
    if path.is_file():
        return path
    if (path / CHECKPOINT_FILE).is_file():
        return path / CHECKPOINT_FILE
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint_path '{path}' does not exist")
    steps = checkpoint_steps(path)
    step = steps[-1] if load_step == 0 else min(steps, key=lambda s: abs(s - load_step))
    return path / str(step) / CHECKPOINT_FILE


def checkpoint_steps(run_dir: str | Path) -> list[int]:
    """The saved env steps of a run's model directory (`<t_env>/checkpoint.pt`), ascending."""
    run_dir = Path(run_dir)
    steps = sorted(int(p.name) for p in run_dir.iterdir() if p.name.isdigit() and (p / CHECKPOINT_FILE).is_file())
    if not steps:
        raise FileNotFoundError(f"no '<t_env>/{CHECKPOINT_FILE}' under '{run_dir}'")
    return steps


def load_checkpoint(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    return torch.load(path, map_location=device, weights_only=False)


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

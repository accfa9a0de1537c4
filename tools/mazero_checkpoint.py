"""A saved MAZero checkpoint as the measuring tools read it: its resolved config, then its models.

Two steps because the models' shapes come from the environment (`env_info`), which a tool builds
from the config in between, on the checkpoint's own map."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from config.resolve import resolve_config  # noqa: E402
from modules.mazero.build import model_config  # noqa: E402
from modules.mazero.model import MAZeroModel  # noqa: E402
from utils.checkpoint import find_checkpoint  # noqa: E402


def read_mazero_checkpoint(run_dir: Path, step: int, overrides: dict | None = None) -> tuple[dict, Any]:
    """(saved state, the run's config with `overrides`) of a MAZero run's saved step (0: the newest);
    any other learner's checkpoint is refused."""
    path = find_checkpoint(run_dir, step)
    state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    raw = {k: v for k, v in state["config"].items() if k != "env_info"} | (overrides or {})
    args = resolve_config(raw)
    if args.learner != "mazero_learner":
        raise SystemExit(f"'{path}' is a {args.learner} checkpoint; this tool reads MAZero's")
    return state, args


def mazero_models(state: dict, args: Any) -> tuple[MAZeroModel, MAZeroModel]:
    """(the acting model, the learner's bootstrap target model) in eval mode; `args.env_info` set."""
    model, target_model = MAZeroModel(model_config(args)), MAZeroModel(model_config(args))
    model.load_state_dict(state["learner"]["mac"]["model"])
    target_model.load_state_dict(state["learner"]["target_model"])
    return model.eval(), target_model.eval()

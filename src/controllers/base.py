"""The multi-agent controller (MAC) contract: everything the loop, the runners and the
checkpoints call on a controller, so they call it without probing for optional hooks."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch


class Controller(ABC):
    """Acts for every agent of a batch of environments, one step at a time.

    Built from the registry as `cls(scheme, groups, args)`. The defaults below are what a
    controller without recurrent state, extra stored fields or alternative test policies needs."""

    def __init__(self, scheme: dict, groups: dict[str, int], args: Any) -> None:
        self.args = args

    # ------------------------------------------------------------------ acting
    @abstractmethod
    def select_actions(self, ep_batch: Any, t_ep: int, t_env: int, bs: Any = slice(None),
                       test_mode: bool = False) -> torch.Tensor:
        """Actions (long) [len(bs), N] for the batch rows `bs` at episode step `t_ep`."""

    def init_hidden(self, batch_size: int) -> None:
        """Called by the runner before each batch of episodes: clears per-episode state."""

    # ----------------------------------------------------------- stored fields
    def extra_scheme(self) -> dict:
        """Per-step fields, beyond the environment's, that episodes must store for the learner."""
        return {}

    def step_extras(self) -> dict[str, torch.Tensor]:
        """Values of the `extra_scheme` fields for the rows of the last `select_actions` call."""
        return {}

    # ----------------------------------------------------------- episode statistics
    def episode_stats(self) -> dict[str, np.ndarray]:
        """Per-episode values [batch_size] the controller measured while acting since the last
        `init_hidden` (e.g. how often the search played the prior's greedy action); the runner
        averages them into the episode metrics like the environment's own."""
        return {}

    # ----------------------------------------------------------- evaluation
    def test_variants(self) -> tuple[str, ...]:
        """Names of the policies each evaluation runs ('' is the main one; the others prefix
        their metrics, e.g. 'prior_' logs test_prior_*)."""
        return ("",)

    def use_test_variant(self, variant: str) -> None:
        """Acts with the named test variant until told otherwise (only '' by default)."""

    # ------------------------------------------------------- parameters/state
    @abstractmethod
    def parameters(self) -> Iterable[torch.nn.Parameter]:
        """The trained parameters that act."""

    @abstractmethod
    def to(self, device: str | torch.device) -> "Controller":
        """Moves the networks (and any generator that must live with them) to `device`."""

    def cuda(self) -> "Controller":
        return self.to("cuda")

    @abstractmethod
    def state_dict(self) -> dict:
        """Weights and random generator states, for exact checkpoints."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        ...

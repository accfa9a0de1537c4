"""The single-environment runner: the parallel runner with one environment."""
from __future__ import annotations

from runners.parallel_runner import ParallelRunner


class EpisodeRunner(ParallelRunner):
    """Kept as its own registry entry because pymarl configs name it; `batch_size_run` must be 1
    (checked when the config is validated)."""

"""Runner registry: `runner: <name>` in the config picks one."""
from runners.episode_runner import EpisodeRunner
from runners.parallel_runner import ParallelRunner

REGISTRY = {"episode": EpisodeRunner, "parallel": ParallelRunner}

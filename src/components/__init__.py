"""Replay registry: `buffer: <name>` in the config picks how rollouts are stored and sampled."""
from components.replay import EpisodeReplay, OnPolicyReplay

REPLAY_REGISTRY = {"episode": EpisodeReplay, "on_policy": OnPolicyReplay}

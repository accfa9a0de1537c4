"""Replay registry: `buffer: <name>` in the config picks how rollouts are stored and sampled."""
from components.replay import EpisodeReplay, OnPolicyReplay
from components.transition_replay import PrioritizedTransitionReplay

REPLAY_REGISTRY = {
    "episode": EpisodeReplay,
    "on_policy": OnPolicyReplay,
    "prioritized_transitions": PrioritizedTransitionReplay,
}

"""Batched Sampled MCTS with Optimistic Search Lambda (MAZero), tensorised in torch.

No dependency on the rest of src/: the model is any object with the SearchModel protocol.
"""
from .actions import select_action_eval, select_action_train
from .config import SearchConfig
from .mcts import SampledMCTS
from .model_protocol import ModelOutput, SearchModel
from .result import SearchResult, SearchTree

__all__ = [
    "ModelOutput", "SampledMCTS", "SearchConfig", "SearchModel", "SearchResult", "SearchTree",
    "select_action_eval", "select_action_train",
]

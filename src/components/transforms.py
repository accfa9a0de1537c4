"""Preprocessing transforms applied when data is written into an EpisodeBatch."""
from __future__ import annotations

import torch


class OneHot:
    """Adds a one-hot copy of an integer field (e.g. `actions` -> `actions_onehot`)."""

    def __init__(self, out_dim: int):
        self.out_dim = out_dim

    def transform(self, tensor: torch.Tensor) -> torch.Tensor:
        onehot = tensor.new_zeros(*tensor.shape[:-1], self.out_dim, dtype=torch.float32)
        return onehot.scatter_(-1, tensor.long(), 1.0)

    def infer_output_info(self, vshape_in: tuple[int, ...], dtype_in: torch.dtype) -> tuple[tuple[int, ...], torch.dtype]:
        return (self.out_dim,), torch.float32

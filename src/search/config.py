"""Hyperparameters of one search, fixed for its whole run (static shapes depend on them)."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SearchConfig:
    """Sampled MCTS + OS(lambda) settings.

    Defaults follow the paper's Table 1 (rho=0.75 keeps the top 25%, lambda=0.8); the reference
    script runs rho=0.25. ``rho=0, lam=1`` is the plain MuZero mean backup (the "without
    OS(lambda)" ablation).
    """

    num_simulations: int = 100
    num_sampled_actions: int = 10          # K draws per expanded node, with replacement
    rho: float = 0.75                      # keep the top (1 - rho) fraction per depth
    lam: float = 0.8                       # depth decay of OS(lambda)
    discount: float = 0.99
    c1: float = 1.25                       # pUCT pb_c_init
    c2: float = 19652.0                    # pUCT pb_c_base
    dirichlet_alpha: float = 0.3
    exploration_fraction: float = 0.25     # root noise weight eps
    use_noise: bool = True                 # root Dirichlet noise (turn off for evaluation)
    sampling_temperature: float = 1.0      # beta = pi^(1/tau); tau=1 makes the pUCT prior == beta_hat
    root_legal_floor: float = 1e-4         # mass added to every legal root action before sampling
    min_max_delta: float = 0.01            # lower bound of (max - min) in the value normalisation
    root_round_robin: bool = True          # first #children simulations visit each root child once
    max_depth: int = 16                    # depth cap; see mcts.py for the overflow rule
    latent_dtype: torch.dtype = torch.float32   # latent pool dtype (bf16 halves its memory)
    value_dtype: torch.dtype = torch.float32    # OS(lambda) keys and sums (float64 for exactness checks)
    autocast_bf16: bool = False            # run model calls under bf16 autocast
    use_cuda_graph: bool = False           # capture one simulation in a CUDA graph (cuda only)
    compile_tree: bool = False             # torch.compile the tree steps (fused kernels; model calls stay eager)
    tree_threads: int | None = None        # CPU intra-op threads for tree ops (model calls keep the caller's)

    def __post_init__(self) -> None:
        if self.num_simulations < 1 or self.num_sampled_actions < 1:
            raise ValueError("num_simulations and num_sampled_actions must be >= 1")
        if not 0.0 <= self.rho <= 1.0 or not 0.0 <= self.lam <= 1.0:
            raise ValueError("rho and lam must lie in [0, 1]")
        if not 0.0 < self.discount <= 1.0:
            raise ValueError("discount must lie in (0, 1]")
        if self.max_depth < 1:
            raise ValueError("max_depth must be >= 1")
        if self.sampling_temperature <= 0.0:
            raise ValueError("sampling_temperature must be > 0")
        if not 0.0 <= self.exploration_fraction <= 1.0:
            raise ValueError("exploration_fraction must lie in [0, 1]")

    @property
    def num_nodes(self) -> int:
        """Root plus one new node per simulation."""
        return self.num_simulations + 1

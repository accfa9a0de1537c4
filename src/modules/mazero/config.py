"""Hyper-parameters of the MAZero network. Defaults follow the paper (appendix B.1, Table 1);
where the reference code differs, the reference's choice is an option (noted per field)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MAZeroModelConfig:
    obs_dim: int                    # per-agent input width; frame stacking = the caller's wider obs
    n_agents: int
    n_actions: int
    hidden_dim: int = 128           # latent size H of s^i (paper and reference)
    representation_layers: tuple[int, ...] = (128, 128)
    dynamics_layers: tuple[int, ...] = (128, 128)
    reward_layers: tuple[int, ...] = (32,)
    value_layers: tuple[int, ...] = (32,)
    policy_layers: tuple[int, ...] = (32,)
    # Categorical supports [-S, S] after h(x): paper says "ten bins on [-5, 5]"; the reference (and
    # this) uses 11 integer bins, S = 5.
    value_support_size: int = 5
    reward_support_size: int = 5
    feature_norm: bool = True       # extra LayerNorm on the raw observation (paper B.1)
    communication: bool = True      # False: "without communication" ablation (identity, no attention)
    communication_layers: int = 3
    communication_heads: int = 8
    communication_ff_dim: int = 128
    dropout: float = 0.1            # in the transformer only; active in train() mode only
    agent_index_encoding: bool = True  # sinusoidal agent-index encoding before the transformer
    share_parameters: bool = True   # False: per-agent weights for representation, dynamics, policy
    # "concat" (reference): MLP over the concatenated agents, fixes N and agent order;
    # "pooled": permutation-invariant masked mean; also makes the consistency projection per agent.
    centralised_heads: str = "concat"
    # Paper eq. 4: r_{t,k} = R(s_{t,k}, a_{t+k}). The reference feeds the post-dynamics s_{t,k+1}.
    reward_from_next_latent: bool = False
    zero_init_outputs: bool = True  # reference (SMAC): uniform prior, E[value] = E[reward] = 0 at init
    projection_hidden: int = 128    # SimSiam projection MLP (reference section 1.8)
    projection_dim: int = 128
    prediction_hidden: int = 64

    def __post_init__(self) -> None:
        if self.centralised_heads not in ("concat", "pooled"):
            raise ValueError(
                f"centralised_heads must be 'concat' or 'pooled', got {self.centralised_heads!r}"
            )
        if self.communication and self.hidden_dim % self.communication_heads:
            raise ValueError("hidden_dim must be divisible by communication_heads")
        if min(self.obs_dim, self.n_agents, self.n_actions, self.hidden_dim) < 1:
            raise ValueError("obs_dim, n_agents, n_actions and hidden_dim must be positive")

    @property
    def value_bins(self) -> int:
        return 2 * self.value_support_size + 1

    @property
    def reward_bins(self) -> int:
        return 2 * self.reward_support_size + 1

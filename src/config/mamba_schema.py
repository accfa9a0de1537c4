"""Typed config of MAMBA (Egorov & Shpilman, "Scalable Multi-Agent Model-Based Reinforcement
Learning", AAMAS 2022).

Defaults are the official code's StarCraft settings (jbr-ai-labs/mamba,
`configs/dreamer/optimal/starcraft/LearnerConfig.py` on top of `DreamerAgentConfig.py`), so a yaml
that leaves a key out still runs the published method; src/config/algs/mamba.yaml gives the
source of every value."""
from __future__ import annotations

from pydantic import Field, model_validator

from config.schema import RunConfig, check_heads_divide


class MAMBAConfig(RunConfig):
    learner: str = "mamba_learner"
    mac: str = "mamba_mac"
    buffer: str = "episode"
    buffer_size: int = Field(default=5000, ge=1, description="episodes the replay holds")

    # --- world model (DreamerAgentConfig)
    hidden_dim: int = Field(default=256, ge=1, description="width of every MLP, communication token and the critic")
    obs_agent_id: bool = Field(default=False, description="one-hot agent id appended to the encoder input")
    embed_dim: int = Field(default=256, ge=1, description="observation embedding fed to the posterior")
    deterministic_dim: int = Field(default=256, ge=1, description="GRU state h")
    n_categoricals: int = Field(default=32, ge=1, description="categorical variables of the stochastic state z")
    n_classes: int = Field(default=32, ge=2, description="classes of each categorical")
    communication_layers: int = Field(default=3, ge=1, description="transformer layers over the agents per GRU step")
    communication_heads: int = Field(default=8, ge=1)
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0, description="communication dropout (world-model updates only)")
    agent_index_encoding: bool = Field(
        default=True, description="add a sinusoidal agent-index table before attention (official); False makes "
                                  "communication and critic permutation-equivariant")
    kl_balance: float = Field(default=0.8, ge=0.0, le=1.0, description="weight of KL(sg(post) || prior); the rest "
                                                                        "goes to KL(post || sg(prior))")

    # --- world-model training (LearnerConfig)
    model_lr: float = Field(default=2e-4, gt=0.0, description="world-model learning rate (MODEL_LR)")
    batch_size: int = Field(default=40, ge=1, description="episodes sampled per update, one window each")
    seq_length: int = Field(default=20, ge=2, description="consecutive time slots per training window")
    grad_norm_clip: float = Field(default=100.0, gt=0.0, description="for world model, actor and critic alike")
    optim_eps: float = Field(default=1e-8, gt=0.0, description="torch's Adam default, which the official code keeps")

    # --- behaviour learning in imagination (LearnerConfig)
    lr: float = Field(default=5e-4, gt=0.0, description="actor and critic learning rate (ACTOR_LR = VALUE_LR)")
    actor_weight_decay: float = Field(default=1e-5, ge=0.0)
    agent_update_interval: int = Field(default=15, ge=1, description="world-model updates per behaviour update")
    imagination_horizon: int = Field(default=15, ge=2, description="imagined steps from each replayed state")
    td_lambda: float = Field(default=0.95, ge=0.0, le=1.0, description="lambda of the imagined lambda-returns")
    epochs: int = Field(default=5, ge=1, description="PPO passes over each imagined batch")
    minibatch_size: int = Field(default=2000, ge=1, description="imagined (step, start) rows per PPO minibatch")
    eps_clip: float = Field(default=0.2, gt=0.0, lt=1.0)
    entropy_coef: float = Field(default=0.001, ge=0.0, description="initial entropy bonus")
    entropy_anneal: float = Field(default=0.99998, gt=0.0, le=1.0, description="entropy_coef factor per actor step")
    standardise_advantages: bool = True

    # --- acting
    test_greedy: bool = Field(default=False, description="test episodes take the most likely action (official: sample)")

    @model_validator(mode="after")
    def _check_mamba(self) -> "MAMBAConfig":
        check_heads_divide(self.hidden_dim, self.communication_heads)
        return self

"""Typed config of MAMBA (Egorov & Shpilman, "Scalable Multi-Agent Model-Based Reinforcement
Learning", AAMAS 2022).

Defaults are the official code's StarCraft settings (jbr-ai-labs/mamba,
`configs/dreamer/optimal/starcraft/LearnerConfig.py` on top of `DreamerAgentConfig.py` and
`DreamerControllerConfig.py`), so a yaml that leaves a key out still runs the published method.
Each description cites the official code's name for the value (HIDDEN, MODEL_EPOCHS, ...) and, where
the code's default learner file (`DreamerLearnerConfig.py`) differs, its value as "default file";
src/config/algs/mamba.yaml lists the differences from the official pipeline."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from config.schema import RunConfig, check_heads_divide


class MAMBAConfig(RunConfig):
    learner: str = "mamba_learner"
    mac: str = "mamba_mac"
    buffer: str = "episode"
    buffer_size: int = Field(default=5000, ge=1, description="episodes (3m: 90k-300k transitions), around the code's "
                                                             "CAPACITY = 250000 transitions (default file: 500000)")

    # --- world model (DreamerAgentConfig)
    hidden_dim: int = Field(default=256, ge=1, description="width of every MLP, communication token and the critic: "
                                                           "HIDDEN = MODEL_HIDDEN = REWARD/PCONT/ACTION/VALUE_HIDDEN")
    obs_agent_id: bool = Field(default=False, description="one-hot agent id appended to the encoder input (the "
                                                          "code's encoder reads the observation alone)")
    embed_dim: int = Field(default=256, ge=1, description="observation embedding fed to the posterior (EMBED)")
    deterministic_dim: int = Field(default=256, ge=1, description="GRU state h (DETERMINISTIC)")
    n_categoricals: int = Field(default=32, ge=1, description="categorical variables of the stochastic state z "
                                                              "(N_CATEGORICALS)")
    n_classes: int = Field(default=32, ge=2, description="classes of each categorical, straight-through (N_CLASSES)")
    communication_layers: int = Field(default=3, ge=1, description="transformer layers over the agents per GRU step "
                                                                   "(AttentionEncoder(3, ...), networks/dreamer/rnns.py)")
    communication_heads: int = Field(default=8, ge=1, description="nhead=8 in networks/transformer/layers.py (critic too)")
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0, description="communication dropout, world-model updates only "
                                                                    "(the transition's AttentionEncoder)")
    agent_index_encoding: bool = Field(
        default=True, description="add a sinusoidal agent-index table before attention (official, layers.py); False "
                                  "makes communication and critic permutation-equivariant")
    kl_balance: float = Field(default=0.8, ge=0.0, le=1.0, description="weight of KL(sg(post) || prior), the rest on "
                                                                        "KL(post || sg(prior)): state_divergence_loss"
                                                                        "(balance=0.2), DreamerV2's alpha; each KL "
                                                                        "averaged over the categoricals, as coded")

    # --- world-model training (LearnerConfig)
    model_lr: float = Field(default=2e-4, gt=0.0, description="world-model learning rate (MODEL_LR)")
    batch_size: int = Field(default=40, ge=1, description="episodes sampled per update, one window each "
                                                          "(MODEL_BATCH_SIZE = BATCH_SIZE)")
    seq_length: int = Field(default=20, ge=2, description="time slots per training window (SEQ_LENGTH; default file: 50)")
    grad_norm_clip: float = Field(default=100.0, gt=0.0, description="for world model, actor and critic alike "
                                                                     "(GRAD_CLIP = GRAD_CLIP_POLICY)")
    optimizer: Literal["adam", "rmsprop"] = Field(default="adam", description="torch.optim.Adam for all three networks")
    optim_eps: float = Field(default=1e-8, gt=0.0, description="torch's Adam default, which the official code keeps")

    # --- behaviour learning in imagination (LearnerConfig)
    lr: float = Field(default=5e-4, gt=0.0, description="actor and critic learning rate (ACTOR_LR = VALUE_LR)")
    actor_weight_decay: float = Field(default=1e-5, ge=0.0, description="the actor's Adam(weight_decay=0.00001)")
    agent_update_interval: int = Field(
        default=15, ge=1, description="world-model updates per behaviour update: with updates_per_rollout 60 "
                                      "(MODEL_EPOCHS), 4 per episode (EPOCHS; default file: 1 and 1)")
    imagination_horizon: int = Field(default=15, ge=2, description="imagined states from each replayed state, the "
                                                                   "actor trains on the first 14 (HORIZON)")
    gamma: float = Field(default=0.99, gt=0.0, le=1.0, description="GAMMA")
    td_lambda: float = Field(default=0.95, ge=0.0, le=1.0, description="lambda of the imagined lambda-returns "
                                                                       "(DISCOUNT_LAMBDA)")
    epochs: int = Field(default=5, ge=1, description="PPO passes over each imagined batch (PPO_EPOCHS)")
    minibatch_size: int = Field(default=2000, ge=1, description="imagined (step, start) rows per PPO minibatch (the "
                                                                "learner's hard-coded 2000)")
    eps_clip: float = Field(default=0.2, gt=0.0, lt=1.0, description="ppo_loss(eps=0.2) in agent/optim/utils.py")
    entropy_coef: float = Field(default=0.001, ge=0.0, description="initial entropy bonus (ENTROPY)")
    entropy_anneal: float = Field(default=0.99998, gt=0.0, le=1.0, description="entropy_coef factor after every actor "
                                                                              "minibatch step (ENTROPY_ANNEALING)")
    standardise_advantages: bool = Field(
        default=True, description="as the code's StarCraft branch (advantage() in agent/optim/utils.py divides by "
                                  "std + 1e-4; here by sqrt(var + 1e-5))")

    # --- acting (DreamerControllerConfig)
    test_greedy: bool = Field(default=False, description="test episodes take the argmax; the code samples the masked "
                                                         "policy there too, as its SMAC win rates are reported")

    @model_validator(mode="after")
    def _check_mamba(self) -> "MAMBAConfig":
        check_heads_divide(self.hidden_dim, self.communication_heads)
        return self

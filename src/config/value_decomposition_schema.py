"""Typed configs of the value-decomposition baselines beyond QMIX: QPLEX, CDS and RODE.

Defaults are the authors' SMAC values (see each yaml header for the source of every key), so
a yaml that leaves a key out still runs the published method."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.policy_schema import QConfig, QLearnerConfig, _check_registered


class QPLEXConfig(QConfig):
    """wjh720/QPLEX `qplex_sc2.yaml` (mixer `dmaq`, which reads none of the QMIX mixer's keys)."""

    learner: str = "qplex_learner"
    mixer: str | None = "dmaq"
    adv_hypernet_layers: Literal[1, 2, 3] = Field(default=1, description="depth of the lambda attention nets")
    adv_hypernet_embed: int = Field(default=64, ge=1)
    num_kernel: int = Field(default=4, ge=1, description="attention heads of lambda(s, a)")
    is_stop_gradient: bool = Field(default=True, description="detach w_i (Q_i - max Q_i) inside the advantage")

    @model_validator(mode="after")
    def _check_dueling(self) -> "QPLEXConfig":
        if self.mixer != "dmaq":
            raise ValueError(f"{self.learner} needs the duplex dueling mixer 'dmaq' (got {self.mixer!r})")
        return self


class CDSConfig(QPLEXConfig):
    """lich14/CDS `CDS_SMAC` on top of QPLEX; beta/beta1/beta2 are per map (3s_vs_5z's by default)."""

    learner: str = "cds_learner"
    agent: str = "cds"
    obs_agent_id: bool = False
    beta: float = Field(default=0.04, ge=0.0, description="weight of the mean intrinsic reward in the TD target")
    beta1: float = Field(default=0.5, ge=0.0, description="weight of log q(o'|tau, a, id); also the Q temperature")
    beta2: float = Field(default=0.5, ge=0.0, description="weight of the action-diversity KL term")
    local_q_l1_coef: float = Field(default=0.1, ge=0.0, description="L1 penalty keeping the individual Q small")
    anneal_intrinsic: bool = False
    anneal_start: int = Field(default=1_000_000, ge=0, description="env steps before the intrinsic reward decays")
    anneal_rate: float = Field(default=5.0, ge=0.0, description="decay per million env steps after anneal_start")
    predictor_hidden_dim: int = Field(default=128, ge=1)
    predictor_lr: float = Field(default=1e-3, gt=0.0)
    predictor_batch_size: int = Field(default=256, ge=1, description="samples per predictor minibatch")


class RODEConfig(QLearnerConfig):
    """TonghanWang/RODE `rode.yaml`."""

    learner: str = "rode_learner"
    mac: str = "rode_mac"
    agent: str = "rode"
    n_role_clusters: int = Field(default=5, ge=1, description="k of the k-means over action representations")
    role_interval: int = Field(default=5, ge=1, description="env steps between role choices")
    state_latent_dim: int = Field(default=32, ge=1, description="observation embedding of the action encoder")
    action_latent_dim: int = Field(default=20, ge=1, description="action representation z_a")
    role_action_spaces_update_start: int = Field(default=50_000, ge=0, description="env step of the clustering")
    action_selector: str = "soft_epsilon_greedy"
    epsilon_anneal_time_exp: int = Field(default=70_000, ge=0,
                                         description="role (and soft_epsilon_greedy's action) epsilon decay, "
                                                     "restarted at clustering")
    role_epsilon_finish: float = Field(default=0.05, ge=0.0, le=1.0)
    reward_prediction_coef: float = Field(default=10.0, ge=0.0, description="weight of the reward loss of the encoder")
    role_mixer: str = "qmix"
    kmeans_iters: int = Field(default=100, ge=1)
    clip_per_level: bool = Field(default=False, description="not official: clip the action-level and role-level "
                                                            "gradients separately (official: one joint clip)")
    role_policy_action_repr: Literal["encoder", "one_hot"] = Field(
        default="encoder", description="diagnostic, not RODE: one_hot scores the role policies' actions against "
                                       "orthonormal vectors instead of the learned (often collinear) representations")

    @field_validator("role_mixer")
    @classmethod
    def _known_role_mixer(cls, value: str) -> str:
        return _check_registered(value, "modules.mixers", "role_mixer")

    @model_validator(mode="after")
    def _check_mixers(self) -> "RODEConfig":
        if self.mixer is None:
            raise ValueError("rode_learner needs a mixer over the action values")
        if self.action_selector not in ("epsilon_greedy", "soft_epsilon_greedy"):
            raise ValueError(f"RODE acts on Q-values: action_selector must be epsilon_greedy or soft_epsilon_greedy, "
                             f"not {self.action_selector!r}")
        return self

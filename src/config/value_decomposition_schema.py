"""Typed configs of the value-decomposition baselines beyond QMIX: QPLEX, CDS and RODE.

Defaults are the authors' SMAC values, on top of pymarl's (QConfig), so a yaml that leaves a key out
still runs the published method; each description names the authors' file, and each yaml header
what the authors' code has that is not a key here."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.policy_schema import QConfig, QLearnerConfig, _check_registered


class QPLEXConfig(QConfig):
    """wjh720/QPLEX `qplex_sc2.yaml` (mixer `dmaq`, which reads none of the QMIX mixer's keys)."""

    learner: str = "qplex_learner"
    mixer: str | None = Field(default="dmaq", description="QPLEX's duplex dueling mixer (qplex_sc2.yaml)")
    adv_hypernet_layers: Literal[1, 2, 3] = Field(
        default=1, description="depth of the lambda attention nets (qplex_sc2.yaml; the matrix-game qplex.yaml: 3)")
    adv_hypernet_embed: int = Field(default=64, ge=1, description="qplex_sc2.yaml")
    num_kernel: int = Field(default=4, ge=1,
                            description="attention heads of lambda(s, a) (qplex_sc2.yaml; matrix games: 10)")
    is_stop_gradient: bool = Field(default=True,
                                   description="detach w_i (Q_i - max Q_i) inside the advantage (qplex_sc2.yaml)")

    @model_validator(mode="after")
    def _check_dueling(self) -> "QPLEXConfig":
        if self.mixer != "dmaq":
            raise ValueError(f"{self.learner} needs the duplex dueling mixer 'dmaq' (got {self.mixer!r})")
        return self


class CDSConfig(QPLEXConfig):
    """lich14/CDS `CDS_SMAC` (`qplex_qatten_sc2.yaml` and the per-map env configs) on top of QPLEX;
    beta/beta1/beta2 are per map (3s_vs_5z's by default; cds.yaml lists the other maps')."""

    learner: str = "cds_learner"
    agent: str = Field(default="cds", description="shared GRU with per-agent Q heads (lich14/CDS)")
    obs_agent_id: bool = Field(default=False, description="lich14/CDS: identity lives in the per-agent heads")
    beta: float = Field(default=0.04, ge=0.0, description="weight of the mean intrinsic reward in the TD target (3s_vs_5z)")
    beta1: float = Field(default=0.5, ge=0.0,
                         description="weight of log q(o'|tau, a, id); also the Q temperature (3s_vs_5z)")
    beta2: float = Field(default=0.5, ge=0.0, description="weight of the action-diversity KL term (3s_vs_5z)")
    local_q_l1_coef: float = Field(default=0.1, ge=0.0,
                                   description="L1 penalty keeping the individual Q small (lich14/CDS)")
    anneal_intrinsic: bool = Field(default=False, description="lich14/CDS: off on 3s_vs_5z (on for corridor)")
    anneal_start: int = Field(default=1_000_000, ge=0, description="env steps before the intrinsic reward decays")
    anneal_rate: float = Field(default=5.0, ge=0.0,
                               description="decay per million env steps after anneal_start (corridor: 5)")
    predictor_hidden_dim: int = Field(default=128, ge=1, description="lich14/CDS modules/intrinsic/predict_net.py")
    predictor_lr: float = Field(default=1e-3, gt=0.0, description="Adam, lich14/CDS predict_net.py")
    predictor_batch_size: int = Field(default=256, ge=1, description="samples per predictor minibatch (predict_net.py)")


class RODEConfig(QLearnerConfig):
    """TonghanWang/RODE `rode.yaml` on top of its (pymarl's) `default.yaml`; every description without
    a source is that file's value."""

    learner: str = "rode_learner"
    mac: str = "rode_mac"
    agent: str = "rode"
    n_role_clusters: int = Field(
        default=5, ge=1, description="k of the k-means over action representations (3 on corridor; SMAX 3m needs 2: "
                                     "see algs/rode.yaml)")
    role_interval: int = Field(default=5, ge=1, description="env steps between role choices")
    state_latent_dim: int = Field(default=32, ge=1, description="observation embedding of the action encoder")
    action_latent_dim: int = Field(default=20, ge=1, description="action representation z_a")
    role_action_spaces_update_start: int = Field(default=50_000, ge=0, description="env step of the clustering")
    action_selector: str = Field(default="soft_epsilon_greedy", description="the official selector (see algs/rode.yaml)")
    epsilon_anneal_time_exp: int = Field(default=70_000, ge=0,
                                         description="role (and soft_epsilon_greedy's action) epsilon decay, "
                                                     "restarted at clustering")
    role_epsilon_finish: float = Field(default=0.05, ge=0.0, le=1.0)
    reward_prediction_coef: float = Field(default=10.0, ge=0.0, description="weight of the encoder's reward loss (the "
                                                                           "official code's constant)")
    role_mixer: str = Field(default="qmix", description="mixer of the role values")
    kmeans_iters: int = Field(default=100, ge=1, description="ours: k-means++ seeding, then this many iterations")
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

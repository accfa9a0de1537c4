"""Typed configs of the baseline learners (QMIX/VDN/IQL and IPPO/MAPPO).

`PolicyConfig` holds what the shared controller (`basic_mac`), agent network and action selector
read; `QConfig` what every Q-learner on an episode replay reads; the learner configs add their
own keys. Registry-backed names (selector, mixer, critic) are checked against
their registries, so a typo names the valid options before any work starts.

The Q-learners' defaults are pymarl's SMAC-paper values (oxwhirl/pymarl@c971afd `default.yaml` and
`algs/qmix.yaml`), the PPO learner's the official MAPPO SMAC values (marlbenchmark/on-policy@de66d7a
`onpolicy/config.py` and `train_smac_*.sh`); each description names the source's key where it differs.
"""
from __future__ import annotations

import importlib
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.loader import check_registered
from config.schema import RunConfig, refuse_inert


def _check_registered(value: str, module: str, kind: str) -> str:
    """The loader's registry check (its ConfigError is a ValueError, so pydantic reports it with the key)."""
    check_registered(kind, value, importlib.import_module(module).REGISTRY)
    return value


class PolicyConfig(RunConfig):
    """Controller, agent network and exploration keys shared by value-based and policy-gradient baselines."""

    mac: str = "basic_mac"
    agent: str = Field(default="rnn", description="agent network registry name (pymarl's GRU agent)")
    obs_last_action: bool = Field(default=True, description="the agent also sees its previous action, one-hot (pymarl)")
    test_greedy: bool = Field(default=True, description="a sampling selector acts greedily in test episodes")
    action_selector: str = Field(default="epsilon_greedy", description="action selector registry name (pymarl qmix.yaml)")
    agent_output_type: Literal["q", "pi_logits"] = Field(default="q", description="Q-values or policy logits")
    mask_before_softmax: bool = Field(default=True, description="give unavailable actions zero probability")
    use_rnn: bool = Field(default=True, description="GRUCell agent, as pymarl and on-policy (False: feed-forward)")
    epsilon_start: float = Field(default=1.0, ge=0.0, le=1.0, description="pymarl qmix.yaml")
    epsilon_finish: float = Field(default=0.05, ge=0.0, le=1.0, description="pymarl qmix.yaml")
    epsilon_anneal_time: int = Field(default=50_000, ge=0, description="env steps of the linear decay (pymarl qmix.yaml)")
    evaluation_epsilon: float = Field(default=0.0, ge=0.0, le=1.0, description="exploration in test episodes (pymarl: 0)")
    standardise_rewards: bool = Field(default=False, description="scale rewards by running mean/std (pymarl: no)")
    target_update: Literal["hard", "soft"] = Field(
        default="hard", description="hard: copy every target_update_interval episodes; soft: Polyak tau every update")
    target_update_interval: int = Field(default=200, ge=1,
                                        description="episodes between hard target copies (pymarl qmix.yaml)")
    target_update_tau: float = Field(default=0.01, gt=0.0, le=1.0, description="Polyak rate of soft updates")

    @field_validator("action_selector")
    @classmethod
    def _known_selector(cls, value: str) -> str:
        return _check_registered(value, "components.action_selectors", "action_selector")

    @model_validator(mode="after")
    def _check_epsilon(self) -> "PolicyConfig":
        if self.epsilon_finish > self.epsilon_start:
            raise ValueError("epsilon_finish must not exceed epsilon_start (the schedule decays)")
        refuse_inert(self, ("target_update_interval",), self.target_update == "hard", "target_update=hard")
        refuse_inert(self, ("target_update_tau",), self.target_update == "soft", "target_update=soft")
        return self


class QConfig(PolicyConfig):
    """What every Q-learner (QMIX/VDN/IQL, QPLEX, CDS, RODE) reads; defaults are pymarl's SMAC-paper values."""

    buffer: str = "episode"
    buffer_size: int = Field(default=5000, ge=1, description="episodes the replay holds (pymarl qmix.yaml)")
    mixer: str | None = Field(default="qmix", description="mixer registry name; None trains independent Q-learners")
    hypernet_embed: int = Field(default=64, ge=1, description="hypernetwork width (pymarl qmix.yaml; QPLEX qplex_sc2.yaml)")
    double_q: bool = Field(default=True, description="pymarl qmix.yaml")
    td_lambda: float = Field(default=0.0, ge=0.0, le=1.0, description="0: pymarl's one-step TD target (pymarl2: 0.6)")

    @field_validator("mixer")
    @classmethod
    def _known_mixer(cls, value: str | None) -> str | None:
        return None if value is None else _check_registered(value, "modules.mixers", "mixer")

    @model_validator(mode="after")
    def _check_output(self) -> "QConfig":
        if self.agent_output_type != "q":
            raise ValueError(f"{self.learner} needs agent_output_type='q'")
        return self


class QLearnerConfig(QConfig):
    """IQL (mixer None), VDN and QMIX; the QMIX mixer's keys are read with `mixer: qmix`."""

    learner: str = "q_learner"
    mixing_embed_dim: int = Field(default=32, ge=1, description="QMIX mixer width (pymarl qmix.yaml)")
    hypernet_layers: Literal[1, 2] = Field(default=2, description="pymarl qmix.yaml")

    @model_validator(mode="after")
    def _check_qmix_keys(self) -> "QLearnerConfig":
        refuse_inert(self, ("mixing_embed_dim", "hypernet_layers"), self.mixer == "qmix", "mixer=qmix")
        return self


class PPOConfig(PolicyConfig):
    """IPPO (ac_critic) and MAPPO (cv_critic); defaults are the official MAPPO SMAC values."""

    learner: str = "ppo_learner"
    buffer: str = "on_policy"
    action_selector: str = Field(default="soft_policies", description="samples the policy in training (on-policy)")
    agent_output_type: Literal["q", "pi_logits"] = Field(default="pi_logits", description="policy logits")
    critic_type: str = Field(
        default="cv_critic", description="cv_critic: MAPPO's centralised V on the state; ac_critic: IPPO's, on own obs")
    critic_hidden_dim: int = Field(default=64, ge=1, description="on-policy hidden_size")
    epochs: int = Field(default=15, ge=1, description="on-policy ppo_epoch; 5 on corridor, MMM2, 6h_vs_8z, "
                                                      "3s5z_vs_3s6z, 27m_vs_30m")
    num_minibatches: int = Field(default=1, ge=1, description="episode minibatches per epoch (on-policy num_mini_batch)")
    lr_anneal: bool = Field(default=False, description="decay lr linearly to 0 at t_max (JaxMARL's ANNEAL_LR)")
    eps_clip: float = Field(default=0.2, gt=0.0, lt=1.0, description="on-policy clip_param (0.05 on 5m_vs_6m and 3s_vs_5z)")
    entropy_coef: float = Field(default=0.01, ge=0.0, description="on-policy entropy_coef")
    value_loss_coef: float = Field(default=1.0, ge=0.0, description="on-policy value_loss_coef")
    return_estimator: Literal["gae", "nstep"] = Field(default="gae", description="on-policy use_gae")
    gae_lambda: float = Field(default=0.95, ge=0.0, le=1.0, description="on-policy gae_lambda")
    q_nstep: int = Field(default=5, ge=1, description="horizon of the n-step critic targets")
    huber_delta: float | None = Field(default=10.0, gt=0.0, description="on-policy huber_delta; None: squared error")
    standardise_returns: bool = Field(default=True, description="critic learns running-normalised returns (on-policy "
                                                                "value normalisation)")
    standardise_advantages: bool = Field(default=True, description="on-policy's advantage normalisation")
    active_masks: bool = Field(default=False, description="leave steps where an agent has a single available "
                                                          "action (dead) out of the losses (MAPPO's active masks)")
    target_update_interval: int = Field(default=1, ge=1, description="episodes between hard target-critic copies")

    @field_validator("critic_type")
    @classmethod
    def _known_critic(cls, value: str) -> str:
        return _check_registered(value, "modules.critics", "critic_type")

    @model_validator(mode="after")
    def _check_output(self) -> "PPOConfig":
        if self.agent_output_type != "pi_logits":
            raise ValueError("ppo_learner needs agent_output_type='pi_logits'")
        if self.action_selector == "epsilon_greedy":
            raise ValueError("ppo_learner samples its policy: use action_selector 'soft_policies' or 'multinomial'")
        refuse_inert(self, ("gae_lambda",), self.return_estimator == "gae", "return_estimator=gae")
        refuse_inert(self, ("q_nstep",), self.return_estimator == "nstep", "return_estimator=nstep")
        unread_batch = self.batch_size not in (type(self).model_fields["batch_size"].default, self.batch_size_run)
        if unread_batch:  # a re-validated config lists every key, so the value, not its presence, decides
            raise ValueError(f"ppo_learner updates on each rollout of batch_size_run={self.batch_size_run} episodes and "
                             f"does not read batch_size={self.batch_size}: set batch_size_run (and num_minibatches)")
        if self.num_minibatches > self.batch_size_run:
            raise ValueError(f"num_minibatches={self.num_minibatches} exceeds the batch_size_run={self.batch_size_run} "
                             "episodes of a rollout")
        return self

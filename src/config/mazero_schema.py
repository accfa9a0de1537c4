"""Typed config of MAZero (Liu et al., ICLR 2024).

Defaults are the paper's (section 4, appendix B.1, Table 1) where it states a value, except
`batch_size` (RunConfig's 32, a CPU budget); where the paper is silent they are the reference
implementation's (liuqh16/MAZero @ b1c5084). Where the two disagree the paper wins and the
field's description names the reference's value, one override away."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from config.schema import RunConfig, check_heads_divide, refuse_inert


class MAZeroConfig(RunConfig):
    learner: str = "mazero_learner"
    mac: str = "mazero_mac"
    buffer: str = "prioritized_transitions"
    buffer_size: int = Field(default=5000, ge=1, description="episodes the transition replay holds (3m: about 0.5 GB "
                                                             "at capacity, 61 steps x 3 agents x 75 obs)")
    batch_size: int = Field(default=32, ge=1, description="CPU budget; paper Table 1: 256 (mazero_paper)")

    # --- model (paper eq. 4, appendix B.1)
    model_type: Literal["factored", "flat"] = Field(
        default="factored", description="flat: one agent over the joint action space (paper Figure 6 ablation)")
    stacked_observations: int = Field(default=4, ge=1, description="paper 4; reference 1")
    communication: bool = Field(default=True, description="False: the 'without communication' ablation")
    communication_layers: int = Field(default=3, ge=1, description="attention blocks of the dynamics' communication "
                                                                   "(paper appendix B.1)")
    communication_heads: int = Field(default=8, ge=1, description="paper appendix B.1")
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0, description="communication dropout (paper appendix B.1)")
    share_parameters: bool = Field(default=True, description="False: per-agent representation/dynamics/policy")
    centralised_heads: Literal["concat", "pooled"] = Field(
        default="concat", description="value/reward heads over the concatenated agents (reference) or pooled")
    reward_from_next_latent: bool = Field(default=False, description="paper: R(s_k, a_k); reference: R(s_{k+1}, a_k)")
    support_size: int = Field(default=5, ge=1, description="categorical support [-S, S] after h(x); 11 bins (reference)")

    # --- search (section 4.2, appendix B)
    num_simulations: int = Field(default=100, ge=1)
    num_sampled_actions: int = Field(default=10, ge=1, description="K joint actions sampled per node (paper Table 1)")
    mcts_rho: float = Field(default=0.75, ge=0.0, le=1.0,
                            description="OS(lambda) quantile; paper 0.75 (keep the top 25%), reference script 0.25")
    mcts_lambda: float = Field(default=0.8, ge=0.0, le=1.0, description="OS(lambda) depth decay; rho=0, lambda=1 is the mean backup")
    pb_c_init: float = Field(default=1.25, gt=0.0)
    pb_c_base: float = Field(default=19652.0, gt=0.0)
    dirichlet_alpha: float = Field(default=0.3, gt=0.0)
    exploration_fraction: float = Field(default=0.25, ge=0.0, le=1.0)
    max_search_depth: int = Field(default=16, ge=1)
    visit_temperature: float = Field(default=1.0, gt=0.0, description="self-play samples N(a)^(1/T)")
    sampling_temperature: float = Field(
        default=1.0, gt=0.0, description="nodes sample joint actions from pi^(1/tau) (Sampled MuZero); 1 = paper")
    test_sampling_temperature: float | None = Field(
        default=None, gt=0.0,
        description="tau of the evaluation searches (no noise, most visited child); None: sampling_temperature. "
                    "A flat prior over many agents rarely samples its own greedy joint action at tau=1")
    test_mcts: bool = Field(default=True, description="False: evaluate only the decentralised prior (paper Table 8)")
    test_prior: bool = Field(default=True, description="also log the prior-only win rate as test_prior_*")
    search_latent_bf16: bool = Field(default=False, description="keep the search's latent pool in bf16")
    search_autocast_bf16: bool = Field(default=False, description="model calls inside the search under bf16 autocast (GPU)")
    search_cuda_graph: bool = Field(default=False, description="capture one simulation in a CUDA graph (GPU)")
    search_compile_tree: bool = Field(
        default=False, description="torch.compile the search's tree steps into fused kernels (GPU; slower on CPU)")

    # --- training (section 4.3, appendix B)
    unroll_steps: int = Field(default=5, ge=1, description="model steps unrolled from each sampled position (paper Table 1)")
    td_steps: int = Field(default=5, ge=1, description="n of the n-step value targets (paper Table 1)")
    reward_loss_coef: float = Field(default=1.0, ge=0.0)
    value_loss_coef: float = Field(default=0.25, ge=0.0, description="reference's weight; the paper states none")
    policy_loss_coef: float = Field(default=1.0, ge=0.0)
    consistency_loss_coef: float = Field(default=2.0, ge=0.0, description="reference's weight; 0 disables it")
    latent_grad_scale: float = Field(default=0.5, gt=0.0, le=1.0,
                                     description="gradient scale through each unroll step (reference)")
    compile_unroll: bool = Field(
        default=False, description="torch.compile the training step's K-step unroll (inductor; needs a C++ compiler "
        "on CPU): 2-3 min of compiling at the first update, then about 20% less CPU for the unroll (docs/benchmarks.md)")
    log_loss_gradients: bool = Field(
        default=False, description="also log each weighted loss term's gradient norm on the shared networks "
        "(representation, communication, dynamics): which term drives them; one extra backward pass per term")
    policy_loss: Literal["awpo", "bc"] = Field(default="awpo", description="bc: Sampled MuZero's behaviour cloning")
    awpo_alpha: float = Field(default=3.0, gt=0.0, description="paper 3; reference 2 (with awpo_clip=3, awpo_standardise)")
    awpo_standardise: bool = Field(default=False, description="reference: standardise advantages over the batch")
    awpo_clip: float | None = Field(default=None, gt=0.0, description="reference: clip the weight at 3")
    awpo_normalise: bool = Field(
        default=False,
        description="False: paper eq. 14 as printed; True (not in the reference) divides each root's weights by "
                    "Z(s) = sum_a omega(a) exp(A/alpha), the cross-entropy to eta* of eq. 11-12: for large returns",
    )
    reanalyse_noise: bool = Field(default=True, description="reference: Dirichlet noise in reanalysis searches")
    reanalyse_num_simulations: int | None = Field(
        default=None, ge=1, description="simulations of each reanalysis search (deeper policy targets than "
        "self-play can afford); None: num_simulations, as the paper and the reference")
    reanalyse_cache: bool = Field(
        default=True, description="reuse a position's reanalysed target while its model is recent; False: search every "
        "sampled position at every update")
    reanalyse_max_age: int = Field(
        default=400, ge=0, description="updates a cached target's model may be old (reference: targets from a "
        "model 200-400 updates old; 1200 halves the late-run searches on SMAX 3m, docs/benchmarks.md)")
    reanalyse_workers: int = Field(default=0, ge=0, description="Ray actors that search off the learner's core; 0: in process")
    reanalyse_local_above: int | None = Field(
        default=None, ge=0, description="positions of a group a worker searches while the learner trains one group: "
        "above it the learner searches half of the excess itself instead of waiting (late in a run, when the cache "
        "misses most); None: the workers search everything. Without workers the learner searches every position "
        "anyway, so the key has nothing to split there (it is accepted, so that `reanalyse_workers=0` alone turns "
        "the workers off)")
    reanalyse_lookahead: int = Field(
        default=0, ge=0, description="batches sampled ahead and reanalysed in one search while the previous "
        "ones train (targets and priorities up to 2x this many updates stale); 0: each batch searched when it trains")
    reanalyse_ray_address: str | None = Field(
        default=None, description="Ray cluster for the workers (e.g. 'auto' after `ray start --head`); None: a local Ray")
    reanalyse_timeout_s: float = Field(default=600.0, gt=0.0, description="longest wait for a worker before the run stops")
    target_update_interval: int = Field(default=200, ge=1, description="updates between target-model copies")
    min_replay_transitions: int = Field(default=300, ge=1, description="paper 300; sampling waits for this many")
    priority_alpha: float = Field(default=0.6, ge=0.0, description="sampling probability ~ priority^alpha")
    priority_beta_start: float = Field(default=0.4, ge=0.0, le=1.0, description="importance-weight exponent at the start")
    priority_beta_updates: int = Field(default=100_000, ge=1, description="updates over which beta anneals to 1")
    off_policy_correction: bool = Field(default=False, description="reference: shorter n for old transitions")
    off_policy_age_steps: int = Field(default=300_000, ge=1, description="age (transitions) per td step lost")
    off_policy_min_td_steps: int = Field(
        default=1, ge=0, description="reference 1; 0: the oldest data bootstraps from v(o_t+k) alone"
    )

    @model_validator(mode="after")
    def _check_mazero(self) -> "MAZeroConfig":
        if self.model_type == "flat" and not self.share_parameters:
            raise ValueError("model_type=flat has a single agent; share_parameters=False does not apply")
        if self.model_type == "flat" and self.centralised_heads == "pooled":
            raise ValueError("model_type=flat has a single agent; use centralised_heads=concat")
        check_heads_divide(self.hidden_dim, self.communication_heads)
        if self.off_policy_min_td_steps > self.td_steps:
            raise ValueError(f"off_policy_min_td_steps={self.off_policy_min_td_steps} exceeds td_steps={self.td_steps}")
        if self.awpo_normalise and self.awpo_clip is not None:
            raise ValueError("awpo_normalise=True makes the weights a distribution per root; awpo_clip does not apply")
        refuse_inert(self, ("awpo_alpha", "awpo_standardise", "awpo_clip", "awpo_normalise"), self.policy_loss == "awpo",
                     "policy_loss=awpo")
        refuse_inert(self, ("reanalyse_max_age",), self.reanalyse_cache, "reanalyse_cache=True")
        refuse_inert(self, ("reanalyse_ray_address", "reanalyse_timeout_s"), self.reanalyse_workers > 0,
                     "reanalyse_workers >= 1")
        refuse_inert(self, ("off_policy_age_steps", "off_policy_min_td_steps"), self.off_policy_correction,
                     "off_policy_correction=True")
        if self.reanalyse_workers and not self.reanalyse_lookahead:
            raise ValueError(f"reanalyse_workers={self.reanalyse_workers} needs reanalyse_lookahead >= 1: without "
                             "batches shown ahead the learner would wait for every search")
        return self

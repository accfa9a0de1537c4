"""Typed run configuration shared by every algorithm, and the one place for its defaults.

`RunConfig` holds the keys every algorithm reads (the loop, runners, replays, records); each
learner subclasses it with the keys it reads itself (its `Config` attribute), so the merged
yaml + command-line config is validated against exactly the keys that algorithm reads:
a misspelt key, a key only another algorithm reads, a wrong type or an impossible value stops
the run before any work.

Every default is written here once, and each field's `description` says where its value comes
from (the paper, pymarl, the official code). An alg or env yaml lists only what it changes from
these defaults (tests/test_config.py refuses a restated one); `python -m tools.show_config
--config=ALG --env-config=ENV` prints every resolved value with its description.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StrictModel(BaseModel):
    """Forbids unknown keys and re-validates on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


def refuse_inert(config: BaseModel, keys: tuple[str, ...], read: bool, when: str) -> None:
    """Refuses keys set away from their default while the switch that reads them is off: they would be
    silently ignored (`awpo_alpha` with `policy_loss=bc`). A default value is harmless and passes."""
    if read:
        return
    fields = type(config).model_fields
    inert = [f"{key}={getattr(config, key)!r}" for key in keys if getattr(config, key) != fields[key].default]
    if inert:
        raise ValueError(f"{', '.join(inert)} would be ignored: read only with {when}")


def check_heads_divide(width: int, heads: int) -> None:
    """Multi-head attention splits each token of `width` features evenly over its heads."""
    if width % heads:
        raise ValueError(f"hidden_dim={width} must be divisible by communication_heads={heads}")


class RunConfig(StrictModel):
    # --- what runs
    name: str = Field(description="algorithm name, used in result paths")
    env: str = Field(description="environment registry name")
    env_args: dict[str, Any] = Field(default_factory=dict, description="validated by the env's own schema")
    runner: str = Field(default="parallel", description="runner registry name; parallel steps batch_size_run envs")
    learner: str = Field(description="learner registry name; its Config sets the default")
    mac: str = Field(description="controller registry name; the learner's Config sets the default")
    buffer: str = Field(description="replay registry name; the learner's Config sets the default")
    seed: int | None = Field(default=None, description="set by sacred when not given")
    label: str = Field(default="default", description="free-form tag stored with the run")

    # --- budget and cadence (all in environment steps unless stated)
    t_max: int = Field(default=2_050_000, gt=0, description="env steps of the run")
    batch_size_run: int = Field(default=1, ge=1, description="environments stepped in lockstep")
    updates_per_rollout: int = Field(default=1, ge=0, description="learner updates after each rollout")
    updates_per_env_step: float | None = Field(default=None, gt=0, description="if set, overrides updates_per_rollout")
    test_nepisode: int = Field(default=32, ge=1, description="episodes per evaluation (pymarl's SMAC setting)")
    test_interval: int = Field(default=10_000, gt=0, description="env steps between evaluations (pymarl's SMAC setting)")
    log_interval: int = Field(default=10_000, gt=0, description="env steps between summary logs")
    runner_log_interval: int = Field(default=10_000, gt=0, description="env steps between runner stats logs")
    learner_log_interval: int = Field(default=10_000, gt=0, description="env steps between learner stats logs")

    # --- replay and optimisation
    batch_size: int = Field(default=32, ge=1, description="episodes (or transitions) per update (pymarl default.yaml)")
    gamma: float = Field(default=0.99, gt=0.0, le=1.0, description="discount (pymarl default.yaml; on-policy MAPPO)")
    lr: float = Field(default=5e-4, gt=0.0, description="pymarl default.yaml; on-policy MAPPO's lr and critic_lr")
    optimizer: Literal["adam", "rmsprop"] = Field(
        default="adam", description="adam: on-policy MAPPO, MAZero, MAMBA; pymarl's algorithms use rmsprop")
    optim_alpha: float = Field(default=0.99, gt=0.0, lt=1.0, description="RMSprop smoothing (pymarl default.yaml)")
    optim_eps: float = Field(default=1e-5, gt=0.0, description="pymarl default.yaml (RMSprop); on-policy opti_eps (Adam)")
    grad_norm_clip: float = Field(default=10.0, gt=0.0, description="pymarl default.yaml; on-policy max_grad_norm")

    # --- agent inputs
    hidden_dim: int = Field(default=64, ge=1, description="agent width (pymarl rnn_hidden_dim; on-policy hidden_size)")
    obs_agent_id: bool = Field(default=True, description="one-hot agent id in the agent's input (pymarl default.yaml)")

    # --- devices and threads
    use_cuda: bool = False
    buffer_cpu_only: bool = True
    torch_threads: int = Field(default=1, ge=1, description="intra-op threads for rollouts and updates")

    # --- records
    results_dir: str = "results"
    use_tensorboard: bool = False
    mongo_url: str | None = None
    mongo_db: str = "mazero"
    sql_url: str | None = Field(default=None, description="e.g. sqlite:///results/sacred.db adds a sacred SQL observer")
    capture_mode: Literal["fd", "sys", "no"] = "fd"
    progress: bool = True

    # --- checkpoints and evaluation
    save_model: bool = True
    save_model_interval: int = Field(default=100_000, gt=0)
    save_replay_buffer: bool = False
    checkpoint_path: str = ""
    load_step: int = Field(default=0, ge=0, description="0 loads the latest checkpoint")
    evaluate: bool = False

    # --- filled in at run time (not part of the yaml)
    env_info: Any = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _check_consistency(self) -> "RunConfig":
        if self.evaluate and not self.checkpoint_path:
            raise ValueError("evaluate=True needs checkpoint_path=<a run's model directory>")
        return self

    @property
    def device(self) -> str:
        return "cuda" if self.use_cuda else "cpu"

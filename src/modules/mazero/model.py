"""The MAZero network (Liu et al., ICLR 2024, eq. 4 and appendix B.1).

    s^i_{t,0}        = h(o^i_t)                              per agent, shared weights
    e^1..e^N_{t,k}   = e(s_{t,k}, a_{t+k})                  transformer over agents
    s^i_{t,k+1}      = s^i_{t,k} + g(s^i, onehot(a^i), e^i)  per agent, shared, residual
    r_{t,k}          = R(s_{t,k}, a_{t+k})                  centralised (paper; option: s_{t,k+1})
    v_{t,k}          = V(s_{t,k})                           centralised
    p^i_{t,k}        = P(s^i_{t,k})                         per agent, shared

It implements the search-model protocol of docs/architecture.md (`initial_inference`,
`recurrent_inference`, returning decoded scalars) and exposes the raw pieces (`represent`,
`predict`, `dynamics`, `project`) for the learner's unroll. Nothing here disables autograd or
switches train/eval: the search should call it under `torch.inference_mode()` with `model.eval()`
(dropout off), the learner in `train()`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modules.mazero.blocks import ResidualMLP, make_layer_norm, mlp
from modules.mazero.communication import AgentCommunication
from modules.mazero.config import MAZeroModelConfig
from modules.mazero.heads import ConsistencyProjection, PolicyHead, centralised_head
from modules.mazero.output import MAZeroOutput
from utils.value_support import categorical_to_scalar


class MAZeroModel(nn.Module):
    """MAZero's representation, communication, dynamics and prediction networks."""

    def __init__(self, config: MAZeroModelConfig) -> None:
        super().__init__()
        self.config = config
        per_agent = None if config.share_parameters else config.n_agents
        hidden = config.hidden_dim
        self.feature_norm = (
            make_layer_norm(config.obs_dim, per_agent) if config.feature_norm else nn.Identity()
        )
        self.representation = mlp(config.obs_dim, config.representation_layers, hidden, n_agents=per_agent)
        self.communication = AgentCommunication(
            latent_dim=hidden,
            n_actions=config.n_actions,
            model_dim=hidden,
            n_layers=config.communication_layers,
            n_heads=config.communication_heads,
            feedforward_dim=config.communication_ff_dim,
            dropout=config.dropout,
            enabled=config.communication,
            agent_index_encoding=config.agent_index_encoding,
        )
        self.dynamics_network = ResidualMLP(
            2 * hidden + config.n_actions, config.dynamics_layers, hidden, n_agents=per_agent
        )
        self.reward_head = centralised_head(
            config.centralised_heads, config.n_agents, hidden + config.n_actions,
            config.reward_layers, config.reward_bins, config.zero_init_outputs,
        )
        self.value_head = centralised_head(
            config.centralised_heads, config.n_agents, hidden,
            config.value_layers, config.value_bins, config.zero_init_outputs,
        )
        self.policy_head = PolicyHead(
            hidden, config.policy_layers, config.n_actions, config.zero_init_outputs, n_agents=per_agent
        )
        self.projection = ConsistencyProjection(
            "joint" if config.centralised_heads == "concat" else "per_agent",
            config.n_agents, hidden, config.projection_hidden, config.projection_dim,
            config.prediction_hidden,
        )

    # -- raw pieces (logits), for the learner -----------------------------------------------

    def represent(self, obs: Tensor) -> Tensor:
        """Local observations [B, N, obs_dim] -> latents [B, N, H]; each agent sees only its own."""
        return self.representation(self.feature_norm(obs))

    def predict(self, latent: Tensor, agent_mask: Tensor) -> tuple[Tensor, Tensor]:
        """(value logits [B, 2S+1], per-agent policy logits [B, N, A]) at a latent state."""
        return self.value_head(latent, agent_mask), self.policy_head(latent)

    def dynamics(self, latent: Tensor, joint_action: Tensor, agent_mask: Tensor) -> tuple[Tensor, Tensor]:
        """(next latent [B, N, H], reward logits [B, 2S+1]) after joint_action int64 [B, N]."""
        action_one_hot = F.one_hot(joint_action.long(), self.config.n_actions).to(latent.dtype)
        messages = self.communication(latent, action_one_hot, agent_mask)
        next_latent = self.dynamics_network(latent, torch.cat([latent, action_one_hot, messages], dim=-1))
        reward_state = next_latent if self.config.reward_from_next_latent else latent
        reward_logits = self.reward_head(torch.cat([reward_state, action_one_hot], dim=-1), agent_mask)
        return next_latent, reward_logits

    def project(self, latent: Tensor, with_prediction_head: bool = True) -> Tensor:
        """SimSiam features for the consistency loss: [B, D] ("concat" heads) or [B, N, D] ("pooled").

        The dynamics branch uses the prediction head; the target branch (the representation of the
        real future observation) does not, and the loss stops its gradient.
        """
        return self.projection(latent, with_prediction_head)

    # -- search-model protocol (decoded scalars) --------------------------------------------

    def initial_inference(self, obs: Tensor, agent_mask: Tensor) -> MAZeroOutput:
        """Root: latent, value and priors from the current observations (reward is None)."""
        latent = self.represent(obs)
        value_logits, policy_logits = self.predict(latent, agent_mask)
        return MAZeroOutput(
            latent=latent,
            reward=None,
            value=categorical_to_scalar(value_logits, self.config.value_support_size),
            policy_logits=policy_logits,
            value_logits=value_logits,
        )

    def recurrent_inference(self, latent: Tensor, joint_action: Tensor, agent_mask: Tensor) -> MAZeroOutput:
        """One imagined step: next latent, its value and priors, and the reward of the step."""
        next_latent, reward_logits = self.dynamics(latent, joint_action, agent_mask)
        value_logits, policy_logits = self.predict(next_latent, agent_mask)
        return MAZeroOutput(
            latent=next_latent,
            reward=categorical_to_scalar(reward_logits, self.config.reward_support_size),
            value=categorical_to_scalar(value_logits, self.config.value_support_size),
            policy_logits=policy_logits,
            value_logits=value_logits,
            reward_logits=reward_logits,
        )

    def predict_policy(
        self,
        obs: Tensor,
        agent_mask: Tensor,
        avail_actions: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Decentralised prior-only actions (paper Table 8): per-agent argmax of the prior, masked
        by avail_actions [B, N, A], from each agent's local observation only; int64 [B, N].

        Exact ties are broken uniformly at random (not towards action 0, the reference's bias);
        at zero-init every logit ties. `agent_mask` does not enter the computation: the prior of
        agent i depends on o^i alone, and a dead agent's avail_actions already force its no-op.
        """
        return argmax_random_ties(self.prior_logits(obs, avail_actions), generator)

    def prior_logits(self, obs: Tensor, avail_actions: Tensor | None = None) -> Tensor:
        """Each agent's prior logits from its own observation [B, N, A] (fp32), unavailable actions
        at -inf; what the decentralised policy acts on."""
        logits = self.policy_head(self.represent(obs)).float()
        if avail_actions is not None:
            logits = logits.masked_fill(~avail_actions.bool(), float("-inf"))
        return logits


def argmax_random_ties(scores: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """argmax over the last axis, choosing uniformly among exactly tied maxima."""
    is_max = scores == scores.amax(dim=-1, keepdim=True)
    noise = torch.rand(scores.shape, generator=generator, device=scores.device)
    return torch.where(is_max, noise, torch.full_like(noise, -1.0)).argmax(dim=-1)

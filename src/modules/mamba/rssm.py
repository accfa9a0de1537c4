"""MAMBA's recurrent state-space model: DreamerV2's RSSM per agent, with shared weights and a
communication step between the agents before every GRU update.

Each agent's state is a deterministic GRU state h and a stochastic state z of `n_categoricals`
one-hot variables with `n_classes` classes each. One step, for all agents at once:

    tokens_i = ReLU(Linear([z_i, a_i]))            previous stochastic state and action
    h'_i     = GRU(h_i, Transformer(tokens)_i)     the agents communicate here
    prior    z'_i ~ p(z | h'_i)                    imagination
    posterior z'_i ~ q(z | h'_i, embed(o'_i))      when the agent observes o'_i

Samples are one-hot with straight-through gradients (the probabilities' gradient)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modules.mamba.communication import AgentAttention


@dataclass
class RSSMState:
    """Per-agent latent state [..., N, *]: logits and one-hot samples of z (flattened C x K), and h."""

    logits: Tensor
    stoch: Tensor
    deter: Tensor

    def features(self) -> Tensor:
        """[z, h]: what the actor, the critic and every head read."""
        return torch.cat([self.stoch, self.deter], dim=-1)

    def map(self, fn: Callable[[Tensor], Tensor]) -> "RSSMState":
        return RSSMState(**{f.name: fn(getattr(self, f.name)) for f in fields(self)})

    @staticmethod
    def stack(states: list["RSSMState"], dim: int) -> "RSSMState":
        return RSSMState(**{f.name: torch.stack([getattr(s, f.name) for s in states], dim=dim)
                            for f in fields(RSSMState)})


def sample_one_hot(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One-hot samples of categoricals [..., K] by the Gumbel-max trick. With a (CPU) generator
    the noise is drawn on the CPU, so a controller's draws do not depend on the model's device."""
    if generator is None:
        uniform = torch.rand(logits.shape, device=logits.device)
    else:
        uniform = torch.rand(logits.shape, generator=generator).to(logits.device)
    gumbel = -torch.log(-torch.log(uniform.clamp_min(1e-20)))
    return F.one_hot((logits.detach() + gumbel).argmax(dim=-1), logits.shape[-1]).to(logits.dtype)


def straight_through_sample(logits: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A one-hot sample [..., K] whose forward value is the sample and whose gradient is the
    softmax probabilities' (DreamerV2's straight-through estimator)."""
    probs = torch.softmax(logits, dim=-1)
    return sample_one_hot(logits, generator) + (probs - probs.detach())  # exactly one-hot forward


class DiscreteLatent(nn.Module):
    """input -> (logits [..., C*K], straight-through one-hot sample [..., C*K])."""

    def __init__(self, in_features: int, hidden: int, n_categoricals: int, n_classes: int) -> None:
        super().__init__()
        self.n_categoricals, self.n_classes = n_categoricals, n_classes
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(),
                                 nn.Linear(hidden, n_categoricals * n_classes))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        logits = self.net(x)
        grouped = logits.unflatten(-1, (self.n_categoricals, self.n_classes))
        return logits, straight_through_sample(grouped, generator).flatten(-2)


class RSSM(nn.Module):
    """Transition (prior) and representation (posterior) of every agent, shared weights."""

    def __init__(self, n_actions: int, embed: int, hidden: int, deterministic: int, n_categoricals: int,
                 n_classes: int, communication: AgentAttention) -> None:
        super().__init__()
        self.stoch_dim, self.deter_dim = n_categoricals * n_classes, deterministic
        self.token = nn.Sequential(nn.Linear(self.stoch_dim + n_actions, hidden), nn.ReLU())
        self.communication = communication
        self.cell = nn.GRUCell(hidden, deterministic)
        self.prior = DiscreteLatent(deterministic, hidden, n_categoricals, n_classes)
        self.posterior = DiscreteLatent(deterministic + embed, hidden, n_categoricals, n_classes)

    def initial_state(self, batch_shape: tuple[int, ...], device: torch.device | str) -> RSSMState:
        """All-zero z and h for [*batch_shape] = [..., N] agents (each episode's and window's start)."""
        stoch = torch.zeros(*batch_shape, self.stoch_dim, device=device)
        return RSSMState(logits=stoch, stoch=stoch, deter=torch.zeros(*batch_shape, self.deter_dim, device=device))

    def imagine_step(self, state: RSSMState, action: Tensor, generator: torch.Generator | None = None) -> RSSMState:
        """The prior state after every agent takes `action` [..., N, A] (one-hot) in `state`."""
        mixed = self.communication(self.token(torch.cat([state.stoch, action], dim=-1)))
        deter = self.cell(mixed.flatten(0, -2), state.deter.flatten(0, -2)).view(state.deter.shape)
        logits, stoch = self.prior(deter, generator)
        return RSSMState(logits=logits, stoch=stoch, deter=deter)

    def observe_step(self, state: RSSMState, action: Tensor, embed: Tensor,
                     generator: torch.Generator | None = None) -> tuple[RSSMState, RSSMState]:
        """(prior, posterior) after `action`, the posterior also seeing the new observation's `embed`."""
        prior = self.imagine_step(state, action, generator)
        logits, stoch = self.posterior(torch.cat([prior.deter, embed], dim=-1), generator)
        return prior, RSSMState(logits=logits, stoch=stoch, deter=prior.deter)

    def observe(self, embeds: Tensor, previous_actions: Tensor) -> tuple[RSSMState, RSSMState]:
        """Unrolls over time from the zero state: embeds [B, L, N, E] of the observations and the
        actions [B, L, N, A] that led to them -> (priors, posteriors), each [B, L, N, *]."""
        state = self.initial_state(embeds.shape[:1] + embeds.shape[2:3], embeds.device)
        priors, posteriors = [], []
        for t in range(embeds.shape[1]):
            prior, state = self.observe_step(state, previous_actions[:, t], embeds[:, t])
            priors.append(prior)
            posteriors.append(state)
        return RSSMState.stack(priors, dim=1), RSSMState.stack(posteriors, dim=1)

"""MAMBA (Egorov & Shpilman, AAMAS 2022): a communicating world model per agent, and PPO on
rollouts imagined in it.

One update (one `train` call), top to bottom:
  1. a window of `seq_length` consecutive slots is cut at random from each sampled episode;
  2. world model: the RSSM unrolls over the windows from the zero state; KL balancing between
     posterior and prior, observation reconstruction, available-action, reward, continuation and
     previous-action (disentanglement) losses, all weight 1, one clipped step;
  3. every `agent_update_interval` updates, behaviour, on fresh windows of the same episodes: from
     the posterior state of every slot where the agents acted, the actor imagines
     `imagination_horizon` states; the world model's rewards (the agents' mean) and continuation
     probabilities give lambda-returns bootstrapped with the critic; the advantages (standardised)
     train the actor with clipped PPO and an annealed entropy bonus, and the returns the critic,
     over `epochs` passes of `minibatch_size` rows.
The official code runs 60 world-model updates then 4 behaviour updates after every episode; the
yaml's `updates_per_rollout: 60` with `agent_update_interval: 15` keeps those counts per episode."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from components.episode_buffer import EpisodeBatch
from config.mamba_schema import MAMBAConfig
from controllers.mamba_controller import MAMBAMAC
from learners.base import Learner, TrainOutput
from learners.optim import clip_and_step, make_optimiser
from learners.targets import (gather_actions, initial_moments, lambda_returns, masked_mean, policy_entropy,
                              ppo_clip_loss, standardise, update_moments, value_error)
from modules.mamba.actor_critic import AttentionCritic, masked_logits
from modules.mamba.imagination import imagine
from modules.mamba.losses import kl_balance_loss
from modules.mamba.world_model import encoder_inputs, mamba_sizes


@dataclass
class Window:
    """`seq_length` consecutive slots of each sampled episode: [B, L, N, *] per agent, [B, L, 1] shared."""

    inputs: Tensor            # encoder inputs
    obs: Tensor               # reconstruction targets
    previous_actions: Tensor  # one-hot action that led to each slot (zeros at an episode's first slot)
    available: Tensor         # available-action masks (float)
    rewards: Tensor           # reward of the action taken at each slot
    terminated: Tensor
    slots: Tensor             # 1 where the slot holds an observation of the episode
    transitions: Tensor       # 1 where an action was taken at the slot and its next slot is in the window


def gather_slots(x: Tensor, index: Tensor) -> Tensor:
    """x [B, T, *] at the slots index [B, L] -> [B, L, *]."""
    return torch.gather(x, 1, index.view(*index.shape, *[1] * (x.dim() - 2)).expand(-1, -1, *x.shape[2:]))


def crop_windows(batch: EpisodeBatch, length: int, with_agent_id: bool) -> Window:
    """One window per episode, starting uniformly among the starts that keep it inside the episode
    (at slot 0 when the episode is shorter than the window; the rest is masked)."""
    n_slots = batch["filled"].sum(dim=1).squeeze(-1).long()                               # [B]
    length = min(length, batch.max_seq_length)
    starts = (torch.rand(n_slots.shape, device=n_slots.device) * (n_slots - length + 1).clamp_min(1)).long()
    index = starts[:, None] + torch.arange(length, device=n_slots.device)                # [B, L]
    inside = (index < n_slots[:, None]).float().unsqueeze(-1)
    index = index.clamp_max(batch.max_seq_length - 1)
    actions = batch["actions_onehot"].float()
    previous = torch.cat([torch.zeros_like(actions[:, :1]), actions[:, :-1]], dim=1)
    obs = gather_slots(batch["obs"].float(), index)
    return Window(inputs=encoder_inputs(obs, with_agent_id), obs=obs, previous_actions=gather_slots(previous, index),
                  available=gather_slots(batch["avail_actions"].float(), index),
                  rewards=gather_slots(batch["reward"].float(), index),
                  terminated=gather_slots(batch["terminated"].float(), index), slots=inside,
                  transitions=torch.cat([inside[:, 1:], torch.zeros_like(inside[:, :1])], dim=1))


def imagined_lambda_returns(rewards: Tensor, continuation: Tensor, values: Tensor, gamma: float, lam: float) -> Tensor:
    """[M, H-1, N] returns G_t = r_t + gamma c_t ((1 - lam) V_{t+1} + lam G_{t+1}), G_{H-1} := V_{H-1},
    with the predicted continuation probability c_t in place of 1 - done (official compute_return)."""
    every_step = torch.ones_like(rewards[..., :1])
    return lambda_returns(rewards, 1.0 - continuation, every_step, values, gamma, lam)


def actor_loss(logits: Tensor, old_logits: Tensor, actions: Tensor, advantages: Tensor, eps_clip: float,
               entropy_coef: float) -> tuple[Tensor, Tensor, Tensor]:
    """(clipped PPO surrogate - entropy_coef * entropy, the surrogate, the entropy) from masked logits
    [R, N, A] of the current and the imagining policy, one-hot actions and advantages [R, N]. An
    agent with a single available action (a dead one) has ratio 1 and entropy 0: no gradient."""
    taken = actions.argmax(dim=-1, keepdim=True)
    log_pi, old_log_pi = (gather_actions(torch.log_softmax(x, dim=-1), taken) for x in (logits, old_logits))
    log_ratio = log_pi - old_log_pi
    surrogate = ppo_clip_loss(log_ratio.exp(), advantages, eps_clip).mean()
    entropy = policy_entropy(torch.softmax(logits, -1)).mean()
    return surrogate - entropy_coef * entropy, surrogate, entropy


def make_mamba_optimiser(params: Any, args: MAMBAConfig, lr: float,
                         weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The configured optimiser (Adam by default) at its own learning rate and weight decay."""
    optimiser = make_optimiser(params, args)
    for group in optimiser.param_groups:
        group.update(lr=lr, weight_decay=weight_decay)
    return optimiser


class MAMBALearner(Learner):
    Config = MAMBAConfig
    controllers = ("mamba_mac",)
    buffers = ("episode",)

    def __init__(self, mac: MAMBAMAC, scheme: dict, logger: Any, args: MAMBAConfig):
        self.args, self.logger = args, logger
        self.device = torch.device(args.device)
        self.mac = mac.to(self.device)
        self.model, self.actor = mac.model, mac.actor
        sizes = mamba_sizes(args)
        self.critic = AttentionCritic(sizes.features, args.hidden_dim, args.communication_heads,
                                      args.agent_index_encoding).to(self.device)
        self.model_optimiser = make_mamba_optimiser(self.model.parameters(), args, args.model_lr)
        self.actor_optimiser = make_mamba_optimiser(self.actor.parameters(), args, args.lr, args.actor_weight_decay)
        self.critic_optimiser = make_mamba_optimiser(self.critic.parameters(), args, args.lr)
        self.entropy_coef = args.entropy_coef
        self.model_updates = 0
        self.behaviour_updates = 0
        self.behaviour_stats: dict[str, float] = {}  # of the latest behaviour update, logged with every update

    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int) -> TrainOutput:
        args = self.args
        batch = batch.to(self.device) if batch.device != self.device else batch
        window = crop_windows(batch, args.seq_length, args.obs_agent_id)

        self.model.train()  # communication dropout
        losses = self.world_model_losses(window)
        loss = torch.stack(list(losses.values())).sum()
        model_grad_norm = self._step(self.model_optimiser, self.model, loss)
        self.model.eval()
        self.model_updates += 1

        if self.model_updates % args.agent_update_interval == 0:  # fresh windows, as the official learner samples anew
            self.behaviour_stats = self.behaviour_update(crop_windows(batch, args.seq_length, args.obs_agent_id))

        stats = {"loss": loss.item(), **{k: v.item() for k, v in losses.items()}, "model_grad_norm": model_grad_norm}
        return TrainOutput(stats={**stats, **self.behaviour_stats})

    # ------------------------------------------------------------------ world model
    def world_model_losses(self, window: Window) -> dict[str, Tensor]:
        """Each loss averaged over the (slot or transition, agent) entries it is defined on."""
        model, slots, transitions = self.model, window.slots, window.transitions[:, :-1]
        priors, posteriors = model.rssm.observe(model.encoder(window.inputs), window.previous_actions)
        features = posteriors.features()
        reconstruction, decoder_hidden = model.decoder(features)
        after_action = torch.cat([posteriors.stoch[:, :-1], posteriors.deter[:, 1:]], dim=-1)  # [z_t, h_{t+1}]
        reward = model.reward(after_action).squeeze(-1)
        continuation_logit = model.continuation(after_action).squeeze(-1)
        previous_action_logits = model.action_information(decoder_hidden[:, 1:])
        kl = kl_balance_loss(posteriors.logits, priors.logits, self.args.n_categoricals, self.args.kl_balance)
        return {
            "kl_loss": masked_mean(kl, slots),
            "reconstruction_loss": masked_mean(
                F.smooth_l1_loss(reconstruction, window.obs, reduction="none").sum(-1), slots),
            "available_actions_loss": masked_mean(F.binary_cross_entropy_with_logits(
                model.available_actions(features), window.available, reduction="none").sum(-1), slots),
            "reward_loss": masked_mean(
                F.smooth_l1_loss(reward, window.rewards[:, :-1].expand_as(reward), reduction="none"), transitions),
            "continuation_loss": masked_mean(F.binary_cross_entropy_with_logits(
                continuation_logit, (1.0 - window.terminated[:, :-1]).expand_as(continuation_logit), reduction="none"),
                transitions),
            "action_information_loss": masked_mean(F.cross_entropy(
                previous_action_logits.movedim(-1, 1), window.previous_actions[:, 1:].argmax(-1), reduction="none"),
                slots[:, 1:]),
        }

    # ------------------------------------------------------------------ behaviour
    def behaviour_update(self, window: Window) -> dict[str, float]:
        """PPO of the actor and regression of the critic on rollouts imagined from every replayed slot
        where an agent acted (not an episode's final observation, nor a window's last slot: official)."""
        args = self.args
        with torch.no_grad():
            _, posteriors = self.model.rssm.observe(self.model.encoder(window.inputs), window.previous_actions)
            starts = posteriors.map(lambda x: x[window.transitions.squeeze(-1) > 0])  # [M, N, *], slots that act
            imagined = imagine(self.model, self.actor, starts, args.imagination_horizon)
            after_action = imagined.after_action()
            rewards = self.model.reward(after_action).mean(dim=-2)                               # [M, H-1, 1] shared
            continuation = torch.sigmoid(self.model.continuation(after_action)).squeeze(-1)      # [M, H-1, N]
            features = imagined.features()
            values = self.critic(features).squeeze(-1)                                           # [M, H, N]
            returns = imagined_lambda_returns(rewards, continuation, values, args.gamma, args.td_lambda)
            advantages = returns - values[:, :-1]
            if args.standardise_advantages:
                advantages = standardise(advantages, update_moments(initial_moments(self.device), advantages,
                                                                    torch.ones_like(advantages)))

        rows = [x.flatten(0, 1) for x in (features[:, :-1], imagined.actions, imagined.available, imagined.logits,
                                          returns, advantages)]
        for _ in range(args.epochs):
            for part in torch.randperm(rows[0].shape[0], device=self.device).split(args.minibatch_size):
                feats, actions, available, old_logits, target, advantage = (x[part] for x in rows)
                loss, pg_loss, entropy = actor_loss(masked_logits(self.actor(feats), available), old_logits, actions,
                                                    advantage, args.eps_clip, self.entropy_coef)
                actor_grad_norm = self._step(self.actor_optimiser, self.actor, loss)
                self.entropy_coef *= args.entropy_anneal
                critic_loss = value_error(self.critic(feats).squeeze(-1) - target, None).mean()
                critic_grad_norm = self._step(self.critic_optimiser, self.critic, critic_loss)
        self.behaviour_updates += 1
        return {"pg_loss": pg_loss.item(), "critic_loss": critic_loss.item(), "entropy": entropy.item(),
                "entropy_coef": self.entropy_coef, "actor_grad_norm": actor_grad_norm,
                "critic_grad_norm": critic_grad_norm, "imagined_return_mean": returns.mean().item(),
                "imagined_reward_mean": rewards.mean().item(), "imagined_continuation_mean": continuation.mean().item(),
                "imagined_starts": float(starts.deter.shape[0])}

    def _step(self, optimiser: torch.optim.Optimizer, module: nn.Module, loss: Tensor) -> float:
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        return clip_and_step(optimiser, module.parameters(), self.args.grad_norm_clip)

    # ------------------------------------------------------------------ state
    def _stateful(self) -> dict[str, Any]:
        """Everything with its own state_dict: networks (the controller's with its generator) and optimisers."""
        return {"mac": self.mac, "critic": self.critic, "model_optimiser": self.model_optimiser,
                "actor_optimiser": self.actor_optimiser, "critic_optimiser": self.critic_optimiser}

    def state_dict(self) -> dict:
        return {**{name: part.state_dict() for name, part in self._stateful().items()},
                "entropy_coef": self.entropy_coef, "model_updates": self.model_updates,
                "behaviour_updates": self.behaviour_updates, "behaviour_stats": dict(self.behaviour_stats)}

    def load_state_dict(self, state: dict) -> None:
        for name, part in self._stateful().items():
            part.load_state_dict(state[name])
        self.entropy_coef = state["entropy_coef"]
        self.model_updates, self.behaviour_updates = state["model_updates"], state["behaviour_updates"]
        self.behaviour_stats = dict(state["behaviour_stats"])

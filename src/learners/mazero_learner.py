"""MAZero's learner (paper section 4, appendix B): model unroll + reanalysis + AWPO.

One update, top to bottom:
  1. value targets: n-step returns bootstrapped with the target model's values;
  2. reanalysis: the policy targets omega and the optimistic advantages A of the B x (K+1)
     positions, from the cache where the position was searched by a recent target model, else
     from one batched search of the rest with the target model (learners/reanalysis/);
  3. the online model unrolls K steps along the real actions; reward, value, policy (BC or
     AWPO) and consistency losses, weighted by the replay's importance weights;
  4. an optimiser step (`optimizer`: Adam or RMSprop) with gradient clipping, target model copy every `target_update_interval` updates,
     new priorities |v(s_t) - z_t|."""
from __future__ import annotations

import copy

import torch
from torch import Tensor

from components.episode_buffer import EpisodeBatch
from components.transition_replay import TransitionBatch, episode_windows, transition_capacity
from config.mazero_schema import MAZeroConfig
from controllers.mazero_controller import MAZeroMAC
from learners.base import Learner, TrainOutput
from learners.mazero_diagnostics import gradient_norms, prior_entropy, search_policy_entropy
from learners.mazero_losses import (
    awpo_policy_loss,
    awpo_weights,
    bc_policy_loss,
    categorical_cross_entropy,
    n_step_value_targets,
    negative_cosine_similarity,
    off_policy_td_steps,
    scale_gradient,
    value_priorities,
)
from learners.optim import make_optimiser
from learners.reanalysis import Reanalysis, Ticket
from modules.mazero.build import input_pipeline
from utils.logging import Logger
from utils.value_support import categorical_to_scalar, scalar_to_categorical


def frame_stacks(obs: Tensor, n_frames: int, n_positions: int) -> Tensor:
    """obs windows [B, F-1+P, N, O] -> stacked frames per position [B, P, F, N, O]."""
    return torch.stack([obs[:, p : p + n_frames] for p in range(n_positions)], dim=1)


class MAZeroLearner(Learner):
    Config = MAZeroConfig
    controllers = ("mazero_mac",)
    buffers = ("prioritized_transitions",)

    def __init__(self, mac: MAZeroMAC, scheme: dict, logger: Logger, args: MAZeroConfig):
        self.args, self.mac, self.logger = args, mac, logger
        self.model = mac.model
        self.target_model = copy.deepcopy(self.model)
        self.target_model.eval()
        self.optimiser = make_optimiser(self.model.parameters(), args)
        self.inputs = input_pipeline(args)
        self.reanalysis = Reanalysis(args, self.target_model, args.seed or 0, transition_capacity(args))
        self.prepared: dict[int, tuple[TransitionBatch, Ticket, slice]] = {}  # id -> (batch, its group's ticket, its rows)
        self.lookahead = args.reanalyse_lookahead  # one search for a group of batches, during the previous group
        self.updates = 0
        self.device = torch.device("cpu")
        # The training step's unroll as one compiled graph (`compile_unroll`): its shapes never change
        # within a run, so it compiles once (docs/benchmarks.md: 16% less CPU per update on CPU).
        self.train_unroll = torch.compile(self._unroll) if args.compile_unroll else self._unroll
        # what every loss term trains (the heads are each one term's own): `log_loss_gradients`
        self.shared_parameters = [p for part in (self.model.feature_norm, self.model.representation,
                                                 self.model.communication, self.model.dynamics_network)
                                  for p in part.parameters()]

    # ---------------------------------------------------------- reanalysis
    def _root_positions(self, batch: TransitionBatch) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(keys, inputs, avail, mask) of the batch's B x (K+1) root positions; positions past the
        end of an episode need no target (key -1: masked in every loss) unless the cache is off."""
        K, F = self.args.unroll_steps, self.args.stacked_observations
        batch = batch.to(self.device)
        frames = frame_stacks(batch.obs, F, K + 1).flatten(0, 1)                          # [B(K+1), F, N, O]
        inputs, avail, mask = self.inputs(frames, batch.avail_actions[:, : K + 1].flatten(0, 1))
        k = torch.arange(K + 1)
        keys = torch.as_tensor(batch.ids, dtype=torch.long)[:, None] + k[None]
        keys = torch.where(k[None] < batch.steps_left.cpu()[:, None], keys, -1).flatten()
        return keys, inputs, avail, mask

    def _request_targets(self, batches: list[TransitionBatch]) -> tuple[Ticket, list[slice]]:
        """One reanalysis request for the root positions of several batches (searching them
        together is cheaper per position), and each batch's rows in it."""
        parts = [self._root_positions(b) for b in batches]
        bounds = torch.tensor([0] + [len(keys) for keys, *_ in parts]).cumsum(0).tolist()
        keys, inputs, avail, mask = (torch.cat(column) for column in zip(*parts))
        ticket = self.reanalysis.request(keys, inputs, avail, mask, self.updates)
        return ticket, [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]

    def prepare(self, batches: list[TransitionBatch]) -> None:
        """Loop hook: batches that train later; their searches run while earlier ones train."""
        ticket, rows = self._request_targets(batches)
        for batch, rows_of_batch in zip(batches, rows):
            self.prepared[id(batch)] = (batch, ticket, rows_of_batch)

    # ------------------------------------------------------------------ update
    def train(self, batch: TransitionBatch, t_env: int, episode_num: int) -> TrainOutput:
        args, view = self.args, self.inputs.view
        K, n, F = args.unroll_steps, args.td_steps, args.stacked_observations
        prepared, ticket, rows = self.prepared.pop(id(batch), (None, None, None))
        if prepared is not batch:  # not shown to `prepare` (no lookahead, or the first after a restore)
            ticket, (rows,) = self._request_targets([batch])
        batch = batch.to(self.device)
        B = batch.rewards.shape[0]

        # Inputs at every position t .. t+K+n of each sampled window.
        stacks = frame_stacks(batch.obs, F, K + n + 1)                          # [B, K+n+1, F, N, O]
        inputs, avail, mask = self.inputs(stacks, batch.avail_actions)          # [B, K+n+1, N', ...]
        actions = view.to_model(batch.actions)                                   # [B, K+n, N']
        inside = torch.arange(K + 1, device=self.device)[None] < batch.steps_left[:, None]  # [B, K+1]

        # 1. Value targets z_{t+k}, k = 0..K, bootstrapped by the target model.
        with torch.no_grad():
            flat = lambda x: x.flatten(0, 1)  # noqa: E731
            value_targets = self._value_targets(batch, inputs, mask)
            reward_targets = batch.rewards[:, :K]

            # 2. Reanalysed policy targets of the B x (K+1) roots (cached or searched by the target model).
            targets = self.reanalysis.resolve(ticket).select(rows).to(self.device)
            M = targets.valid.shape[-1]
            joint_actions = targets.joint_actions.view(B, K + 1, M, -1)
            omega = targets.omega.view(B, K + 1, M)
            child_mask = targets.valid.view(B, K + 1, M) & inside[..., None]
            advantages = targets.advantages.view(B, K + 1, M)
            target_age = (self.updates - targets.model_update.view(B, K + 1))[inside].float()
            target_latents = self.model.represent(flat(inputs[:, 1 : K + 1])).view(B, K, *inputs.shape[2:3], -1)

        # 3. Unroll the online model along the real actions.
        self.model.train()
        value_logits, policy_logits, reward_logits, consistency = self.train_unroll(inputs, actions, mask, target_latents)

        S = args.support_size
        reward_loss = categorical_cross_entropy(reward_logits, scalar_to_categorical(reward_targets, S)).sum(1)
        value_loss = categorical_cross_entropy(value_logits, scalar_to_categorical(value_targets, S)).sum(1)
        if args.policy_loss == "awpo":
            policy_loss = awpo_policy_loss(policy_logits, joint_actions, omega, child_mask, advantages,
                                           args.awpo_alpha, standardise=args.awpo_standardise, clip=args.awpo_clip,
                                           normalise=args.awpo_normalise)
        else:
            policy_loss = bc_policy_loss(policy_logits, joint_actions, omega, child_mask)
        policy_loss = policy_loss.sum(1)
        has_next_obs = (torch.arange(1, K + 1, device=self.device)[None] <= batch.steps_left[:, None]).float()
        consistency_loss = (consistency.view(B, K, -1).mean(-1) * has_next_obs).sum(1)
        terms = {"reward": args.reward_loss_coef * reward_loss, "value": args.value_loss_coef * value_loss,
                 "policy": args.policy_loss_coef * policy_loss, "consistency": args.consistency_loss_coef * consistency_loss}
        loss = (batch.weights * sum(terms.values())).mean()
        shared_gradients = (gradient_norms({name: (batch.weights * term).mean() for name, term in terms.items()},
                                           self.shared_parameters) if args.log_loss_gradients else {})

        # 4. Optimise, refresh the target model, report new priorities.
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), args.grad_norm_clip)
        self.optimiser.step()
        self.updates += 1
        if self.updates % args.target_update_interval == 0:
            self.target_model.load_state_dict(self.model.state_dict())
            self.reanalysis.refresh(self.updates)

        value_0 = categorical_to_scalar(value_logits[:, 0].detach(), S)
        stats = {
            "loss": loss.item(), "reward_loss": reward_loss.mean().item(), "value_loss": value_loss.mean().item(),
            "policy_loss": policy_loss.mean().item(), "consistency_loss": consistency_loss.mean().item(),
            "grad_norm": float(grad_norm), "value_target_mean": value_targets[:, 0].mean().item(),
            "value_pred_mean": value_0.mean().item(),
            "search_root_value_mean": targets.root_value.view(B, K + 1)[inside].mean().item(),
            "reanalyse_target_age": target_age.mean().item(), "updates": float(self.updates),
            "search_policy_entropy": search_policy_entropy(omega, child_mask)[inside].mean().item(),
            "prior_entropy": prior_entropy(policy_logits[:, 0].detach(), avail[:, 0])[mask[:, 0]].mean().item(),
            "search_value_gain": (targets.root_value - targets.root_pred_value).view(B, K + 1)[inside].mean().item(),
            # how much the joint clip shrank this update: with eq. 14's unnormalised weights a large
            # advantage can make the policy term dominate the norm and starve the model's losses
            "grad_clip_scale": min(1.0, args.grad_norm_clip / max(float(grad_norm), 1e-12)),
            **self.reanalysis.stats(),
            **{f"shared_grad_norm_{name}": norm for name, norm in shared_gradients.items()},
        }
        if args.policy_loss == "awpo":
            weights = awpo_weights(advantages, child_mask, args.awpo_alpha, args.awpo_standardise, args.awpo_clip)
            stats["awpo_weight_max"] = weights.max().item()  # eq. 14's exp(A/alpha), before any normalisation
        return TrainOutput(stats=stats, priorities=value_priorities(value_0, value_targets[:, 0]))

    # ------------------------------------------------------------ shared steps
    def _value_targets(self, batch: TransitionBatch, inputs: Tensor, mask: Tensor) -> Tensor:
        """z_{t+k}, k = 0..K: n-step returns bootstrapped by the target model's values [B, K+1]."""
        args, n = self.args, self.args.td_steps
        self.target_model.eval()
        boot = self.target_model.initial_inference(inputs.flatten(0, 1), mask.flatten(0, 1)).value
        td = (off_policy_td_steps(batch.age, args.off_policy_age_steps, n, args.off_policy_min_td_steps)
              if args.off_policy_correction else None)
        return n_step_value_targets(batch.rewards, boot.view(inputs.shape[:2]), batch.steps_left, n, args.gamma,
                                    truncated=batch.truncated, td_steps=td)

    def _unroll(self, inputs: Tensor, actions: Tensor, mask: Tensor,
                target_latents: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """The online model from o_t along the real actions a_t .. a_{t+K-1}: value logits
        [B, K+1, bins], policy logits [B, K+1, N', A'], reward logits [B, K, bins] and, given the
        target latents of o_{t+1..t+K}, the consistency loss of each step [B, K, ...]."""
        K = self.args.unroll_steps
        latent = self.model.represent(inputs[:, 0])
        value_logits, policy_logits = self.model.predict(latent, mask[:, 0])
        values, policies, rewards, consistency = [value_logits], [policy_logits], [], []
        for k in range(1, K + 1):
            latent, reward_logits = self.model.dynamics(latent, actions[:, k - 1], mask[:, k - 1])
            latent = scale_gradient(latent, self.args.latent_grad_scale)
            value_logits, policy_logits = self.model.predict(latent, mask[:, k])
            values.append(value_logits), policies.append(policy_logits), rewards.append(reward_logits)
            if target_latents is not None:
                consistency.append(negative_cosine_similarity(
                    self.model.project(latent, True), self.model.project(target_latents[:, k - 1], False)))
        return (torch.stack(values, 1), torch.stack(policies, 1), torch.stack(rewards, 1),
                torch.stack(consistency, 1) if consistency else None)

    # ------------------------------------------------------------ diagnostics
    def held_out_stats(self, episodes: list[EpisodeBatch]) -> dict[str, float]:
        """The model on episodes it never trained on (the test episodes): |v(o_t) - z_t| against
        the n-step return, and |r_k - u_{t+k}| of the rewards predicted along the real actions
        (all K steps, and the first alone); the mean |z_t| gives their scale."""
        K, S = self.args.unroll_steps, self.args.support_size
        sums = torch.zeros(4, dtype=torch.float64)  # value error, |z|, reward error, first-step reward error
        counts = torch.zeros(3, dtype=torch.float64)  # positions, rewards, first-step rewards
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            for episode_batch in episodes:
                batch = episode_windows(episode_batch, self.args).to(self.device)
                stacks = frame_stacks(batch.obs, self.args.stacked_observations, K + self.args.td_steps + 1)
                inputs, _, mask = self.inputs(stacks, batch.avail_actions)
                z = self._value_targets(batch, inputs, mask)[:, 0]
                value_logits, _, reward_logits, _ = self._unroll(inputs, self.inputs.view.to_model(batch.actions),
                                                                  mask, None)
                value_error = (categorical_to_scalar(value_logits[:, 0], S) - z).abs()
                reward_error = (categorical_to_scalar(reward_logits, S) - batch.rewards[:, :K]).abs()
                inside = torch.arange(K, device=self.device)[None] < batch.steps_left[:, None]
                sums += torch.tensor([value_error.sum(), z.abs().sum(), reward_error[inside].sum(),
                                      reward_error[:, 0].sum()], dtype=torch.float64)
                counts += torch.tensor([len(z), inside.sum(), len(z)], dtype=torch.float64)
        self.model.train(was_training)
        if not counts[0]:
            return {}
        return {"model_value_error": float(sums[0] / counts[0]), "model_value_target_abs": float(sums[1] / counts[0]),
                "model_reward_error": float(sums[2] / counts[1]), "model_reward_error_1step": float(sums[3] / counts[2])}

    # ------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """The cache goes with the replay it indexes (save_replay_buffer); without it a resumed run
        starts with a new replay and an empty cache."""
        return {"mac": self.mac.state_dict(), "target_model": self.target_model.state_dict(),
                "optimiser": self.optimiser.state_dict(), "updates": self.updates,
                "reanalysis": self.reanalysis.state_dict(with_cache=self.args.save_replay_buffer)}

    def load_state_dict(self, state: dict) -> None:
        self.mac.load_state_dict(state["mac"])
        self.target_model.load_state_dict(state["target_model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.updates = state["updates"]
        self.prepared.clear()
        self.reanalysis.load_state_dict(state["reanalysis"])

    def close(self) -> None:
        self.reanalysis.close()

    def cuda(self) -> None:
        self.mac.cuda()
        self.target_model.cuda()
        self.device = torch.device("cuda")
        self.optimiser = make_optimiser(self.model.parameters(), self.args)

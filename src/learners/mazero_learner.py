"""MAZero's learner (paper section 4, appendix B): model unroll + reanalysis + AWPO.

One update, top to bottom:
  1. value targets: n-step returns bootstrapped with the target model's values;
  2. reanalysis: the policy targets omega and the optimistic advantages A of the B x (K+1)
     positions, from the cache where the position was searched by a recent target model, else
     from one batched search of the rest with the target model (learners/reanalysis/);
  3. the online model unrolls K steps along the real actions; reward, value, policy (BC or
     AWPO) and consistency losses, weighted by the replay's importance weights;
  4. Adam step with gradient clipping, target model copy every `target_update_interval` updates,
     new priorities |v(s_t) - z_t|."""
from __future__ import annotations

import copy

import torch
from torch import Tensor

from components.transition_replay import TransitionBatch, transition_capacity
from config.mazero_schema import MAZeroConfig
from controllers.mazero_controller import MAZeroMAC
from learners.base import Learner, TrainOutput
from learners.mazero_diagnostics import prior_entropy, search_policy_entropy
from learners.mazero_losses import (
    awpo_policy_loss,
    bc_policy_loss,
    categorical_cross_entropy,
    n_step_value_targets,
    negative_cosine_similarity,
    off_policy_td_steps,
    scale_gradient,
    value_priorities,
)
from learners.reanalysis import Reanalysis, Ticket
from modules.mazero.build import input_pipeline
from utils.logging import Logger
from utils.value_support import categorical_to_scalar, scalar_to_categorical


def frame_stacks(obs: Tensor, n_frames: int, n_positions: int) -> Tensor:
    """obs windows [B, F-1+P, N, O] -> stacked frames per position [B, P, F, N, O]."""
    return torch.stack([obs[:, p : p + n_frames] for p in range(n_positions)], dim=1)


class MAZeroLearner(Learner):
    Config = MAZeroConfig

    def __init__(self, mac: MAZeroMAC, scheme: dict, logger: Logger, args: MAZeroConfig):
        self.args, self.mac, self.logger = args, mac, logger
        self.model = mac.model
        self.target_model = copy.deepcopy(self.model)
        self.target_model.eval()
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=args.lr, eps=args.optim_eps)
        self.inputs = input_pipeline(args)
        self.reanalysis = Reanalysis(args, self.target_model, args.seed or 0, transition_capacity(args))
        self.prepared: dict[int, tuple[TransitionBatch, Ticket]] = {}  # id -> (the batch itself, its ticket)
        self.lookahead = 1 if args.reanalyse_workers > 0 else 0  # workers search the next batch during this one
        self.updates = 0
        self.device = torch.device("cpu")

    # ---------------------------------------------------------- reanalysis
    def _request_targets(self, batch: TransitionBatch) -> Ticket:
        """Starts the reanalysis of the batch's B x (K+1) root positions; positions past the end
        of an episode need no target (key -1: masked in every loss) unless the cache is off."""
        K, F = self.args.unroll_steps, self.args.stacked_observations
        frames = frame_stacks(batch.obs, F, K + 1).flatten(0, 1)                          # [B(K+1), F, N, O]
        inputs, avail, mask = self.inputs(frames, batch.avail_actions[:, : K + 1].flatten(0, 1))
        k = torch.arange(K + 1)
        keys = torch.as_tensor(batch.ids, dtype=torch.long)[:, None] + k[None]
        keys = torch.where(k[None] < batch.steps_left.cpu()[:, None], keys, -1).flatten()
        return self.reanalysis.request(keys, inputs, avail, mask, self.updates)

    def prepare(self, batch: TransitionBatch) -> None:
        """Loop hook: the batch that trains next; its searches run while this one trains."""
        self.prepared[id(batch)] = (batch, self._request_targets(batch.to(self.device)))

    # ------------------------------------------------------------------ update
    def train(self, batch: TransitionBatch, t_env: int, episode_num: int) -> TrainOutput:
        args, view = self.args, self.inputs.view
        K, n, F = args.unroll_steps, args.td_steps, args.stacked_observations
        batch = batch.to(self.device)
        B = batch.rewards.shape[0]

        # Inputs at every position t .. t+K+n of each sampled window.
        stacks = frame_stacks(batch.obs, F, K + n + 1)                          # [B, K+n+1, F, N, O]
        inputs, avail, mask = self.inputs(stacks, batch.avail_actions)          # [B, K+n+1, N', ...]
        actions = view.to_model(batch.actions)                                   # [B, K+n, N']
        inside = torch.arange(K + 1, device=self.device)[None] < batch.steps_left[:, None]  # [B, K+1]

        # 1. Value targets z_{t+k}, k = 0..K, bootstrapped by the target model.
        with torch.no_grad():
            self.target_model.eval()
            flat = lambda x: x.flatten(0, 1)  # noqa: E731
            boot = self.target_model.initial_inference(flat(inputs), flat(mask)).value.view(B, K + n + 1)
            td = (off_policy_td_steps(batch.age, args.off_policy_age_steps, n, args.off_policy_min_td_steps)
                  if args.off_policy_correction else None)
            value_targets = n_step_value_targets(batch.rewards, boot, batch.steps_left, n, args.gamma,
                                                 truncated=batch.truncated, td_steps=td)
            reward_targets = batch.rewards[:, :K]

            # 2. Reanalysed policy targets of the B x (K+1) roots (cached or searched by the target model).
            prepared, ticket = self.prepared.pop(id(batch), (None, None))
            if prepared is not batch:
                ticket = self._request_targets(batch)
            targets = self.reanalysis.resolve(ticket).to(self.device)
            M = targets.valid.shape[-1]
            joint_actions = targets.joint_actions.view(B, K + 1, M, -1)
            omega = targets.omega.view(B, K + 1, M)
            child_mask = targets.valid.view(B, K + 1, M) & inside[..., None]
            advantages = targets.advantages.view(B, K + 1, M)
            target_age = (self.updates - targets.model_update.view(B, K + 1))[inside].float()
            target_latents = self.model.represent(flat(inputs[:, 1 : K + 1])).view(B, K, *inputs.shape[2:3], -1)

        # 3. Unroll the online model along the real actions.
        self.model.train()
        latent = self.model.represent(inputs[:, 0])
        value_logits, policy_logits = self.model.predict(latent, mask[:, 0])
        value_preds, policy_logits_k = [value_logits], [policy_logits]
        reward_logits_k, consistency = [], []
        for k in range(1, K + 1):
            latent, reward_logits = self.model.dynamics(latent, actions[:, k - 1], mask[:, k - 1])
            latent = scale_gradient(latent, args.latent_grad_scale)
            value_logits, policy_logits = self.model.predict(latent, mask[:, k])
            value_preds.append(value_logits), policy_logits_k.append(policy_logits), reward_logits_k.append(reward_logits)
            consistency.append(negative_cosine_similarity(
                self.model.project(latent, True), self.model.project(target_latents[:, k - 1], False)))
        value_logits = torch.stack(value_preds, 1)                               # [B, K+1, bins]
        policy_logits = torch.stack(policy_logits_k, 1)                          # [B, K+1, N', A']
        reward_logits = torch.stack(reward_logits_k, 1)                          # [B, K, bins]

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
        consistency_loss = (torch.stack(consistency, 1).view(B, K, -1).mean(-1) * has_next_obs).sum(1)
        per_sample = (args.reward_loss_coef * reward_loss + args.value_loss_coef * value_loss
                      + args.policy_loss_coef * policy_loss + args.consistency_loss_coef * consistency_loss)
        loss = (batch.weights * per_sample).mean()

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
            **self.reanalysis.stats(),
        }
        return TrainOutput(stats=stats, priorities=value_priorities(value_0, value_targets[:, 0]))

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
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=self.args.lr, eps=self.args.optim_eps)

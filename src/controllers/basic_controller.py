"""The shared-parameter multi-agent controller (MAC) used by all baselines.

One agent network serves every agent; its input is the agent's observation plus, as in
pymarl, the previous action (one-hot) and the agent id (one-hot). The MAC keeps the RNN
hidden states between `forward` calls, so a runner steps it once per env step and a learner
unrolls it over whole episodes with `unroll`.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn as nn

from components.action_selectors import REGISTRY as selector_REGISTRY
from components.episode_buffer import EpisodeBatch
from controllers.base import Controller
from modules.agents import REGISTRY as agent_REGISTRY

MASKED_LOGIT = -1e10


class BasicMAC(Controller):
    def __init__(self, scheme: dict, groups: dict[str, int], args: Any):
        super().__init__(scheme, groups, args)
        self.n_agents = args.env_info.n_agents
        self.n_actions = args.env_info.n_actions
        self.agent_output_type = args.agent_output_type
        self.agent: nn.Module = agent_REGISTRY[args.agent](self._get_input_shape(scheme), args)
        self.action_selector = selector_REGISTRY[args.action_selector](args)
        self.hidden_states: torch.Tensor | None = None

    # ------------------------------------------------------------------ acting
    def select_actions(self, ep_batch: EpisodeBatch, t_ep: int, t_env: int, bs: Any = slice(None),
                       test_mode: bool = False) -> torch.Tensor:
        """Actions (long, CPU) [len(bs), N] for the batch rows `bs` at step `t_ep`.

        All rows are stepped so the hidden states stay aligned with the batch."""
        outputs = self.forward(ep_batch, t_ep, test_mode=test_mode)
        avail = ep_batch["avail_actions"][:, t_ep]
        return self.action_selector.select_action(outputs[bs], avail[bs], t_env, test_mode=test_mode)

    def forward(self, ep_batch: EpisodeBatch, t: int, test_mode: bool = False) -> torch.Tensor:
        """Q-values, or action probabilities when `agent_output_type == 'pi_logits'`: [B, N, A]."""
        inputs = self._build_inputs(ep_batch, t)
        self._ensure_hidden(ep_batch.batch_size)
        outputs, hidden = self.agent(inputs, self.hidden_states)
        self.hidden_states = hidden.view(ep_batch.batch_size, self.n_agents, -1)
        outputs = outputs.view(ep_batch.batch_size, self.n_agents, -1)
        if self.agent_output_type == "pi_logits":
            if self.args.mask_before_softmax:
                avail = ep_batch["avail_actions"][:, t].to(outputs.device)
                outputs = outputs.masked_fill(avail == 0, MASKED_LOGIT)
            outputs = torch.softmax(outputs, dim=-1)
        return outputs

    def unroll(self, ep_batch: EpisodeBatch) -> torch.Tensor:
        """Outputs for every time step from a fresh hidden state: [B, T, N, A]."""
        self.init_hidden(ep_batch.batch_size)
        return torch.stack([self.forward(ep_batch, t) for t in range(ep_batch.max_seq_length)], dim=1)

    def init_hidden(self, batch_size: int) -> None:
        self.hidden_states = self._initial_hidden(self.agent, batch_size)

    def _ensure_hidden(self, batch_size: int) -> None:
        """Fresh hidden states when there are none yet or the batch size changed."""
        if self.hidden_states is None or self.hidden_states.shape[0] != batch_size:
            self.init_hidden(batch_size)

    def _initial_hidden(self, agent: nn.Module, batch_size: int) -> torch.Tensor:
        """The agent network's initial state for every (episode, agent): [B, N, H]."""
        return agent.init_hidden().unsqueeze(0).expand(batch_size, self.n_agents, -1)

    # ------------------------------------------------------------------ inputs
    def _get_input_shape(self, scheme: dict) -> int:
        vshape = scheme["obs"]["vshape"]
        shape = int(vshape if isinstance(vshape, int) else vshape[0])
        if self.args.obs_last_action:
            shape += self.n_actions
        if self.args.obs_agent_id:
            shape += self.n_agents
        return shape

    def _build_inputs(self, batch: EpisodeBatch, t: int) -> torch.Tensor:
        """[B * N, input_shape]: obs, previous action one-hot (zeros at t=0), agent id one-hot."""
        device = self._device
        bs = batch.batch_size
        parts = [batch["obs"][:, t].to(device)]
        if self.args.obs_last_action:
            last = batch["actions_onehot"][:, t - 1] if t > 0 else torch.zeros_like(batch["actions_onehot"][:, 0])
            parts.append(last.to(device))
        if self.args.obs_agent_id:
            parts.append(torch.eye(self.n_agents, device=device).expand(bs, -1, -1))
        inputs = torch.cat([p.reshape(bs, self.n_agents, -1).float() for p in parts], dim=-1)
        return inputs.reshape(bs * self.n_agents, -1)

    # ------------------------------------------------------- parameters/state
    @property
    def _device(self) -> torch.device:
        return next(self.agent.parameters()).device

    def parameters(self) -> Iterable[nn.Parameter]:
        return self.agent.parameters()

    def load_state(self, other_mac: "BasicMAC") -> None:
        """Copies the other controller's network weights (target network refresh)."""
        self.agent.load_state_dict(other_mac.agent.state_dict())

    def state_dict(self) -> dict:
        return {"agent": self.agent.state_dict(), "rng": self.rng_state()}

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])
        self.set_rng_state(state["rng"])

    def rng_state(self) -> torch.Tensor:
        return self.action_selector.generator.get_state()

    def set_rng_state(self, state: torch.Tensor) -> None:
        self.action_selector.generator.set_state(state)

    def to(self, device: str | torch.device) -> "BasicMAC":
        self.agent.to(device)
        self.hidden_states = None
        return self

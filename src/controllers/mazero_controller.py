"""MAZero's controller: acts by Sampled MCTS over the running environments as roots.

Self-play searches with root Dirichlet noise and samples from the visit counts; evaluation
searches without noise and takes the most visited joint action (random tie-break). The
`prior_` test variant acts from each agent's local policy prior alone (paper Table 8)."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from config.mazero_schema import MAZeroConfig
from controllers.mazero_inputs import ActionView, agent_inputs, alive_mask, frame_window
from modules.mazero.config import MAZeroModelConfig
from modules.mazero.model import MAZeroModel
from search import SampledMCTS, SearchConfig, select_action_eval, select_action_train
from search.result import SearchResult


def build_model(args: MAZeroConfig, view: ActionView, input_dim: int) -> MAZeroModel:
    return MAZeroModel(MAZeroModelConfig(
        obs_dim=input_dim, n_agents=view.model_agents, n_actions=view.model_actions,
        hidden_dim=args.hidden_dim, value_support_size=args.support_size, reward_support_size=args.support_size,
        communication=args.communication, communication_layers=args.communication_layers,
        communication_heads=args.communication_heads, dropout=args.dropout,
        share_parameters=args.share_parameters, centralised_heads=args.centralised_heads,
        reward_from_next_latent=args.reward_from_next_latent,
    ))


def search_config(args: MAZeroConfig, use_noise: bool) -> SearchConfig:
    return SearchConfig(
        num_simulations=args.num_simulations, num_sampled_actions=args.num_sampled_actions,
        rho=args.mcts_rho, lam=args.mcts_lambda, discount=args.gamma, c1=args.pb_c_init, c2=args.pb_c_base,
        dirichlet_alpha=args.dirichlet_alpha, exploration_fraction=args.exploration_fraction,
        use_noise=use_noise, max_depth=args.max_search_depth, sampling_temperature=args.sampling_temperature,
        latent_dtype=torch.bfloat16 if args.search_latent_bf16 else torch.float32,
        autocast_bf16=args.search_autocast_bf16, use_cuda_graph=args.search_cuda_graph,
        compile_tree=args.search_compile_tree,
    )


def uniform_over_children(result: SearchResult, generator: torch.Generator) -> Tensor:
    """Before training starts every sampled root child is equally likely (the reference's warm-up)."""
    ones = SearchResult(**{**result.__dict__, "visit_counts": result.valid.long()})
    return select_action_train(ones, 1.0, generator)


class MAZeroMAC:
    def __init__(self, scheme: dict, groups: dict, args: MAZeroConfig):
        self.args = args
        info = args.env_info
        self.view = ActionView(info.n_agents, info.n_actions, flat=args.model_type == "flat")
        self.input_dim = args.stacked_observations * info.obs_shape + (info.n_agents if args.obs_agent_id else 0)
        self.model = build_model(args, self.view, self.view.inputs(torch.zeros(info.n_agents, self.input_dim)).shape[-1])
        self.search = SampledMCTS(search_config(args, use_noise=True))
        self.device = torch.device("cpu")
        self.generator = torch.Generator().manual_seed(args.seed or 0)
        self.test_variant = ""
        self.warmup_steps = max(args.batch_size, args.min_replay_transitions)

    # ------------------------------------------------------------ inputs
    def model_inputs(self, frames: Tensor, avail: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(model inputs, model avail, model agent mask) from stacked frames [.., F, N, O] and avail [.., N, A]."""
        inputs = self.view.inputs(agent_inputs(frames, self.args.obs_agent_id))
        alive = alive_mask(avail, self.args.env_info.noop_action)
        return inputs, self.view.avail(avail), self.view.mask(alive)

    # ------------------------------------------------------------ acting
    @torch.no_grad()
    def select_actions(self, ep_batch: Any, t_ep: int, t_env: int, bs: Any = slice(None), test_mode: bool = False) -> Tensor:
        rows = torch.as_tensor(bs) if not isinstance(bs, slice) else bs
        frames = frame_window(ep_batch["obs"][rows], t_ep, self.args.stacked_observations).to(self.device)
        avail = ep_batch["avail_actions"][rows, t_ep].to(self.device)
        inputs, model_avail, model_mask = self.model_inputs(frames, avail)
        self.model.eval()
        use_prior = test_mode and (self.test_variant == "prior_" or not self.args.test_mcts)
        if use_prior:
            actions = self.model.predict_policy(inputs, model_mask, model_avail, self.generator)
        else:
            result = self.search.search(self.model, inputs, model_avail, model_mask, self.generator,
                                        add_noise=not test_mode)
            if test_mode:
                actions = select_action_eval(result, self.generator)
            elif t_env < self.warmup_steps:
                actions = uniform_over_children(result, self.generator)
            else:
                actions = select_action_train(result, self.args.visit_temperature, self.generator)
        return self.view.to_env(actions)

    # ------------------------------------------------------------ test variants (loop hook)
    def test_variants(self) -> tuple[str, ...]:
        """'' is the main evaluation (MCTS, or the prior when test_mcts=False); 'prior_' the prior alone."""
        return ("", "prior_") if self.args.test_mcts and self.args.test_prior else ("",)

    def use_test_variant(self, variant: str) -> None:
        self.test_variant = variant

    # ------------------------------------------------------------ loop hooks and plumbing
    def init_hidden(self, batch_size: int) -> None:
        """MAZero acts on stacked frames, not a recurrent state."""

    def extra_scheme(self) -> dict:
        return {}

    def step_extras(self) -> dict:
        return {}

    def parameters(self):
        return self.model.parameters()

    def cuda(self) -> None:
        self.device = torch.device("cuda")
        self.model.cuda()
        state = self.generator.get_state()
        self.generator = torch.Generator(device="cuda")
        self.generator.manual_seed(int(torch.randint(0, 2**31, (1,), generator=torch.Generator().set_state(state))))

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.generator.set_state(state["generator"].to(self.generator.get_state().device))

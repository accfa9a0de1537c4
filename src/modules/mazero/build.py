"""From a run's MAZeroConfig to the pieces that act, learn and reanalyse: the action view, the
input pipeline, the network's config and the search's config. The controller, the learner and
the reanalysis workers build what they need here, so none of them reaches into another."""
from __future__ import annotations

import torch

from config.mazero_schema import MAZeroConfig
from modules.mazero.action_view import ActionView
from modules.mazero.config import MAZeroModelConfig
from modules.mazero.inputs import InputPipeline
from search import SearchConfig


def action_view(args: MAZeroConfig) -> ActionView:
    info = args.env_info
    return ActionView(info.n_agents, info.n_actions, flat=args.model_type == "flat")


def input_pipeline(args: MAZeroConfig) -> InputPipeline:
    return InputPipeline(action_view(args), args.obs_agent_id, args.env_info.noop_action)


def model_config(args: MAZeroConfig) -> MAZeroModelConfig:
    info, view = args.env_info, action_view(args)
    per_agent = args.stacked_observations * info.obs_shape + (info.n_agents if args.obs_agent_id else 0)
    input_dim = view.inputs(torch.zeros(info.n_agents, per_agent)).shape[-1]
    return MAZeroModelConfig(
        obs_dim=input_dim, n_agents=view.model_agents, n_actions=view.model_actions,
        hidden_dim=args.hidden_dim, value_support_size=args.support_size, reward_support_size=args.support_size,
        communication=args.communication, communication_layers=args.communication_layers,
        communication_heads=args.communication_heads, dropout=args.dropout,
        share_parameters=args.share_parameters, centralised_heads=args.centralised_heads,
        reward_from_next_latent=args.reward_from_next_latent,
    )


def search_config(args: MAZeroConfig, use_noise: bool, reanalysis: bool = False, test: bool = False) -> SearchConfig:
    """The search that acts in self-play, with `test` the one that acts in evaluations, or with
    `reanalysis` the one that makes policy targets."""
    if reanalysis and test:
        raise ValueError("a search is either the reanalysis search or the test search")
    simulations = (args.reanalyse_num_simulations or args.num_simulations) if reanalysis else args.num_simulations
    temperature = args.sampling_temperature
    if test and args.test_sampling_temperature is not None:
        temperature = args.test_sampling_temperature
    return SearchConfig(
        num_simulations=simulations, num_sampled_actions=args.num_sampled_actions,
        rho=args.mcts_rho, lam=args.mcts_lambda, discount=args.gamma, c1=args.pb_c_init, c2=args.pb_c_base,
        dirichlet_alpha=args.dirichlet_alpha, exploration_fraction=args.exploration_fraction,
        use_noise=use_noise, max_depth=args.max_search_depth, sampling_temperature=temperature,
        latent_dtype=torch.bfloat16 if args.search_latent_bf16 else torch.float32,
        autocast_bf16=args.search_autocast_bf16, use_cuda_graph=args.search_cuda_graph,
        compile_tree=args.search_compile_tree,
    )

"""MAZero's controller: acts by Sampled MCTS over the running environments as roots.

Self-play searches with root Dirichlet noise and samples from the visit counts; evaluation
searches without noise, with candidates drawn at `test_sampling_temperature`, and takes the most
visited joint action (random tie-break). The `prior_` test variant acts from each agent's local
policy prior alone (paper Table 8). Each searched episode also reports how often its joint action
was the prior's greedy one (`greedy_agreement`, `search_picks_greedy`)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from config.mazero_schema import MAZeroConfig
from controllers.base import Controller
from modules.mazero.build import input_pipeline, model_config, search_config
from modules.mazero.inputs import frame_window
from modules.mazero.model import MAZeroModel
from search import SampledMCTS, select_action_eval, select_action_train
from search.prior_agreement import GreedyTally, greedy_agreement
from search.result import SearchResult


def uniform_over_children(result: SearchResult, generator: torch.Generator) -> Tensor:
    """Before training starts every sampled root child is equally likely (the reference's warm-up)."""
    ones = SearchResult(**{**result.__dict__, "visit_counts": result.valid.long()})
    return select_action_train(ones, 1.0, generator)


class MAZeroMAC(Controller):
    args: MAZeroConfig

    def __init__(self, scheme: dict, groups: dict, args: MAZeroConfig):
        super().__init__(scheme, groups, args)
        self.inputs = input_pipeline(args)
        self.model = MAZeroModel(model_config(args))
        self.search = SampledMCTS(search_config(args, use_noise=True))
        test_config = search_config(args, use_noise=False, test=True)
        # one engine (one set of captured graphs and compiled steps) unless evaluation samples at its own tau;
        # the noise switch needs no second engine, each call passes add_noise
        same = replace(test_config, use_noise=self.search.config.use_noise) == self.search.config
        self.test_search = self.search if same else SampledMCTS(test_config)
        self.device = torch.device("cpu")
        self.generator = torch.Generator().manual_seed(args.seed or 0)
        self.test_variant = ""
        self.warmup_steps = max(args.batch_size, args.min_replay_transitions)
        self.greedy_tally = GreedyTally(args.batch_size_run)

    # ------------------------------------------------------------ acting
    @torch.no_grad()
    def select_actions(self, ep_batch: Any, t_ep: int, t_env: int, bs: Any = slice(None), test_mode: bool = False) -> Tensor:
        rows = torch.as_tensor(bs) if not isinstance(bs, slice) else bs
        frames = frame_window(ep_batch["obs"][rows], t_ep, self.args.stacked_observations).to(self.device)
        avail = ep_batch["avail_actions"][rows, t_ep].to(self.device)
        inputs, model_avail, model_mask = self.inputs(frames, avail)
        self.model.eval()
        use_prior = test_mode and (self.test_variant == "prior_" or not self.args.test_mcts)
        if use_prior:
            actions = self.model.predict_policy(inputs, model_mask, model_avail, self.generator)
        else:
            search = self.test_search if test_mode else self.search
            result = search.search(self.model, inputs, model_avail, model_mask, self.generator,
                                   add_noise=not test_mode)
            if test_mode:
                actions = select_action_eval(result, self.generator)
            elif t_env < self.warmup_steps:
                actions = uniform_over_children(result, self.generator)
            else:
                actions = select_action_train(result, self.args.visit_temperature, self.generator)
            self._tally_for(ep_batch.batch_size).add(
                torch.arange(ep_batch.batch_size)[rows], greedy_agreement(actions, result.root_policy_logits, model_avail))
        return self.inputs.view.to_env(actions)

    def init_hidden(self, batch_size: int) -> None:
        self.greedy_tally = GreedyTally(batch_size)

    def episode_stats(self) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in self.greedy_tally.per_episode().items()}

    def _tally_for(self, batch_size: int) -> GreedyTally:
        """The runner sizes the tally in `init_hidden`; a caller that never does gets one per batch size."""
        if len(self.greedy_tally) != batch_size:
            self.greedy_tally = GreedyTally(batch_size)
        return self.greedy_tally

    # ------------------------------------------------------------ test variants (loop hook)
    def test_variants(self) -> tuple[str, ...]:
        """'' is the main evaluation (MCTS, or the prior when test_mcts=False); 'prior_' the prior alone."""
        return ("", "prior_") if self.args.test_mcts and self.args.test_prior else ("",)

    def use_test_variant(self, variant: str) -> None:
        self.test_variant = variant

    # ------------------------------------------------------------ parameters/state
    def parameters(self) -> Iterator[torch.nn.Parameter]:
        return self.model.parameters()

    def to(self, device: str | torch.device) -> "MAZeroMAC":
        """Moves the model; a move to another device type also moves the search generator there,
        reseeded from the current one, so a run stays reproducible."""
        device = torch.device(device)
        self.model.to(device)
        if device.type != self.generator.device.type:
            seed = int(torch.randint(0, 2**31, (1,), generator=self.generator, device=self.generator.device))
            self.generator = torch.Generator(device=device).manual_seed(seed)
        self.device = device
        return self

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.generator.set_state(state["generator"].to(self.generator.get_state().device))

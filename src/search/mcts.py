"""Batched Sampled MCTS with OS(lambda): B roots searched in lockstep, one model call per simulation.

Depth cap (overflow rule): nodes exist only down to depth ``max_depth``; a node at the cap is a
leaf forever. When a descent ends on such a node u, the simulation *re-evaluates* u: the new node
slot becomes a duplicate of u (same parent, slot, reward and value; ``is_revisit`` in the tree
export), it is not linked into the parent's child table (so it is never selected), and its value
is backed up like any new leaf. Visit counts therefore still sum to N_sim, every node's visits
equal 1 + the visits of the nodes whose parent it is, and every OS(lambda) value stays exactly
eqs. 5-7 over the stored tree. The model output for that root in that simulation is discarded.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor

from .backup import backup_path
from .config import SearchConfig
from .model_protocol import ModelOutput, SearchModel
from .os_lambda import depth_weights, insert_leaf, top_set_sizes
from .result import SearchResult, read_result
from .sampling import SampledChildren, dirichlet_noise, root_distributions, sample_children, tempered
from .selection import advantage_bounds, best_slots, chase_to_leaf, force_root_round_robin
from .tree import TreeState, allocate_tree, reset_tree, write_column


@dataclass
class _Constants:
    """Small device tensors reused by every simulation."""

    size_table: Tensor
    lam_pow: Tensor
    batch_ids: Tensor


@dataclass
class _Descent:
    """Where one simulation's descent ended, per root [B], and what the model is called on."""

    leaf: Tensor
    overflow: Tensor      # the leaf sits at the depth cap: re-evaluate it (see the module docstring)
    parent: Tensor        # node whose child slot is expanded
    slot: Tensor
    flat_parent: Tensor   # parent's row in the flattened [B * M1] node axis
    latent: Tensor        # parent latent [B, N, H]
    joint_action: Tensor  # long [B, N]


@dataclass
class _GraphCache:
    """A captured simulation and the static buffers it reads."""

    state: TreeState
    graph: object
    model: SearchModel    # held, so its id cannot be reused by another model while the graph points at its weights
    sim: Tensor
    uniforms: Tensor
    agent_mask: Tensor
    constants: _Constants


class SampledMCTS:
    """The search engine. ``search`` is the only entry point. Between calls the engine keeps only
    caches: the captured CUDA graphs (``use_cuda_graph=True``), keyed by shapes and model identity,
    and the compiled tree steps (``compile_tree=True``). During a call it keeps the root latent's
    dtype and the caller's thread count on ``self``, so one engine runs one search at a time (give
    each thread its own engine); no result depends on an earlier call.

    A captured graph reads the model's weight tensors by address: update weights in place
    (``load_state_dict``, optimiser steps) and the graph sees them; a new model object gets its own
    graph, and the cache keeps each model it captured alive until ``clear_cache``."""

    def __init__(self, config: SearchConfig) -> None:
        self.config = config
        self._latent_model_dtype = torch.float32
        self._caller_threads = torch.get_num_threads()
        self._graphs: dict[tuple, _GraphCache] = {}
        self._compiled = None

    def clear_cache(self) -> None:
        """Drop captured graphs and their buffers (e.g. after replacing the model object)."""
        self._graphs.clear()

    # ------------------------------------------------------------------ public
    def search(
        self, model: SearchModel, obs: Tensor, avail_actions: Tensor, agent_mask: Tensor,
        generator: torch.Generator, *, add_noise: bool | None = None, return_tree: bool = False,
        root_output: ModelOutput | None = None,
    ) -> SearchResult:
        """Search B roots. obs [B, N, obs_dim], avail_actions [B, N, A] (0/1), agent_mask bool [B, N].

        A dead agent should have only its no-op available (it then always takes it at the root);
        an agent with no available action at all (padded positions) is searched over all actions.

        ``add_noise`` overrides ``config.use_noise`` (pass False for evaluation); ``root_output``
        skips the initial inference when the caller already has it. Every random draw comes from
        ``generator`` (put it on the search device for speed), so equal generator states give
        identical searches.
        """
        cfg = self.config
        self._caller_threads = torch.get_num_threads()  # before any model call switches it
        legal = avail_actions.to(torch.bool)
        legal = legal | ~legal.any(-1, keepdim=True)     # no action available (padding): search all
        with torch.no_grad():
            root = root_output if root_output is not None else self._call(
                lambda: model.initial_inference(obs, agent_mask), obs.device)
            self._latent_model_dtype = root.latent.dtype
            use_graph = cfg.use_cuda_graph and obs.device.type == "cuda"
            noise_on = cfg.use_noise if add_noise is None else add_noise
            if use_graph:
                state = self._search_graphed(model, root, legal, agent_mask, generator, noise_on)
            else:
                with self._tree_threads():
                    state = self._search_eager(model, root, legal, agent_mask, generator, noise_on)
            result = read_result(state, cfg.num_nodes, return_tree)
            result.root_policy_logits = root.policy_logits
            return result

    # ------------------------------------------------------------------ drivers
    def _search_eager(self, model: SearchModel, root: ModelOutput, legal: Tensor, agent_mask: Tensor,
                      generator: torch.Generator, noise_on: bool) -> TreeState:
        cfg = self.config
        state = self._allocate(root, legal)
        consts = self._constants(state)
        self._prepare_root(state, root, legal, generator, noise_on)
        sim = torch.zeros((), dtype=torch.long, device=legal.device)
        for s in range(cfg.num_simulations):
            sim.fill_(s)
            uniforms = self._draw_uniforms(state, generator)
            if cfg.use_cuda_graph or cfg.compile_tree:   # static full-size step (one graph / one compile)
                self._simulate(state, consts, model, agent_mask, sim, uniforms,
                               cfg.num_nodes, cfg.max_depth + 1, cfg.max_depth)
            else:                           # only the part of the tree that can be non-empty yet
                self._simulate(state, consts, model, agent_mask, sim, uniforms,
                               s + 1, min(s + 1, cfg.max_depth) + 1, min(s, cfg.max_depth), new_node=s + 1)
        return state

    def _search_graphed(self, model: SearchModel, root: ModelOutput, legal: Tensor, agent_mask: Tensor,
                        generator: torch.Generator, noise_on: bool) -> TreeState:
        cfg = self.config
        key = (tuple(root.latent.shape), tuple(legal.shape), root.latent.dtype, str(legal.device), id(model))
        cache = self._graphs.get(key)
        first = 0
        if cache is None:
            state = self._allocate(root, legal)
            uniforms = torch.empty(self._uniforms_shape(state), device=legal.device)   # no draw: same stream as eager
            cache = _GraphCache(state, None, model, torch.zeros((), dtype=torch.long, device=legal.device), uniforms,
                                agent_mask.clone(), self._constants(state))
        else:
            reset_tree(cache.state)
            cache.agent_mask.copy_(agent_mask)
        state = cache.state
        self._prepare_root(state, root, legal, generator, noise_on)
        full = (cfg.num_nodes, cfg.max_depth + 1, cfg.max_depth)

        def step() -> None:
            self._simulate(state, cache.constants, model, cache.agent_mask, cache.sim, cache.uniforms, *full)

        if cache.graph is None:
            cache.sim.fill_(0)
            cache.uniforms.copy_(self._draw_uniforms(state, generator))
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                step()                                    # simulation 0, eagerly, doubles as warm-up
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(graph):
                    step()                                # recorded, not executed
            except RuntimeError as error:                 # e.g. a model that syncs with the host
                warnings.warn(f"CUDA-graph capture failed, searching eagerly: {error}", stacklevel=3)
                for s in range(1, cfg.num_simulations):
                    cache.sim.fill_(s)
                    cache.uniforms.copy_(self._draw_uniforms(state, generator))
                    step()
                return state
            cache.graph = graph
            self._graphs[key] = cache
            first = 1
        for s in range(first, cfg.num_simulations):
            cache.sim.fill_(s)
            cache.uniforms.copy_(self._draw_uniforms(state, generator))
            cache.graph.replay()
        return state

    # ------------------------------------------------------------------ pieces
    def _allocate(self, root: ModelOutput, legal: Tensor) -> TreeState:
        cfg = self.config
        batch, n_agents = legal.shape[:2]
        return allocate_tree(batch, cfg.num_simulations, cfg.num_sampled_actions, n_agents,
                             tuple(root.latent.shape[2:]), cfg.max_depth, legal.device, cfg.value_dtype,
                             cfg.latent_dtype)

    def _constants(self, state: TreeState) -> _Constants:
        cfg, device = self.config, state.parent.device
        return _Constants(top_set_sizes(cfg.rho, cfg.num_nodes + 1, device),
                          depth_weights(cfg.lam, cfg.max_depth, device, cfg.value_dtype),
                          torch.arange(state.batch_size, device=device))

    @staticmethod
    def _uniforms_shape(state: TreeState) -> tuple[int, int]:
        batch, k, n_agents = state.child_action.shape[0], state.child_action.shape[2], state.child_action.shape[3]
        return batch, (n_agents + 1) * k

    def _draw_uniforms(self, state: TreeState, generator: torch.Generator) -> Tensor:
        """[B, N*K + K]: inverse-CDF uniforms for K draws per agent, then K keys for the tie-break ranks."""
        draw = torch.rand(self._uniforms_shape(state), generator=generator, device=generator.device)
        return draw.to(state.parent.device, non_blocking=True)

    @contextlib.contextmanager
    def _autocast(self, device: torch.device) -> Iterator[None]:
        if self.config.autocast_bf16:
            with torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False):
                yield
        else:
            yield

    @contextlib.contextmanager
    def _tree_threads(self) -> Iterator[None]:
        """Small tree tensors run best single-threaded on a shared CPU; the caller's count is
        restored afterwards."""
        if self.config.tree_threads is None:
            yield
            return
        torch.set_num_threads(self.config.tree_threads)
        try:
            yield
        finally:
            torch.set_num_threads(self._caller_threads)

    def _call(self, fn, device: torch.device) -> ModelOutput:
        """A model call under the caller's thread count and the configured autocast."""
        switch = self.config.tree_threads is not None and device.type == "cpu"
        if switch:
            torch.set_num_threads(self._caller_threads)
        try:
            with self._autocast(device):
                return fn()
        finally:
            if switch:
                torch.set_num_threads(self.config.tree_threads)

    def _prepare_root(self, state: TreeState, root: ModelOutput, legal: Tensor, generator: torch.Generator,
                      noise_on: bool) -> None:
        """Node 0: store the latent, set its OS(lambda) sets to {v}, sample its children."""
        cfg = self.config
        dtype = cfg.value_dtype
        noise = None
        if noise_on and cfg.exploration_fraction > 0.0:
            noise = dirichlet_noise(tuple(root.policy_logits.shape), cfg.dirichlet_alpha, generator)
        pi, beta = root_distributions(root.policy_logits, legal, noise, cfg.exploration_fraction,
                                      cfg.root_legal_floor, cfg.sampling_temperature)
        uniforms = self._draw_uniforms(state, generator)
        value = root.value.to(dtype)
        state.latents[:, 0] = root.latent.to(cfg.latent_dtype)
        for name, fill in (("depth", 0), ("disc_return", 0.0), ("disc_pow", 1.0), ("visits", 1.0),
                           ("weighted_count", 1.0), ("slot", 0)):
            getattr(state, name)[:, 0] = fill
        for name in ("pred_value", "key", "value", "weighted_sum"):
            getattr(state, name)[:, 0] = value
        state.set_count[:, 0, 0] = 1
        state.top_count[:, 0, 0] = 1
        state.top_sum[:, 0, 0] = value
        state.ancestor_t[:, 0, 0] = 0
        state.in_top_t[:, 0, 0] = True
        children = self._sample(pi, beta, uniforms, state)
        self._write_children(state, 0, children, uniforms[:, -cfg.num_sampled_actions:])
        state.root_num_children.copy_(children.valid.sum(-1))

    def _sample(self, pi: Tensor, beta: Tensor, uniforms: Tensor, state: TreeState) -> SampledChildren:
        k = self.config.num_sampled_actions
        n_agents = state.child_action.shape[3]
        draws = uniforms[:, : n_agents * k].reshape(-1, n_agents, k)
        return sample_children(pi, beta, draws)

    def _write_children(self, state: TreeState, node: Tensor | int, children: SampledChildren,
                        tie_uniforms: Tensor) -> None:
        """Fill the child table row of ``node`` (see ``write_column``) for all roots."""
        dtype = self.config.value_dtype
        device = tie_uniforms.device
        tie = torch.where(children.valid, torch.zeros((), device=device, dtype=dtype),
                          torch.full((), float("-inf"), device=device, dtype=dtype))
        slot_of_rank = torch.argsort(tie_uniforms, dim=-1)
        rank = torch.argsort(slot_of_rank, dim=-1)
        prior = children.prior.to(dtype)
        rows = (
            (state.child_action, children.actions.to(torch.int16)), (state.child_valid, children.valid),
            (state.child_prior, prior), (state.child_prior_over_visits, prior), (state.child_tie, tie),
            (state.child_rank, rank.to(state.child_rank.dtype)), (state.child_slot_of_rank, slot_of_rank),
            (state.child_beta_hat, children.beta_hat.to(dtype)), (state.child_log_beta, children.log_beta.to(dtype)),
            (state.child_log_pi, children.log_pi.to(dtype)),
        )
        for table, row in rows:
            write_column(table, 1, node, row)

    def _simulate(self, state: TreeState, consts: _Constants, model: SearchModel, agent_mask: Tensor, sim: Tensor,
                  uniforms: Tensor, extent_nodes: int, extent_depths: int, chase_steps: int,
                  new_node: int | None = None) -> None:
        """One simulation for all roots: select, one model call, expand node sim+1, back up.

        No host sync and no data-dependent Python control flow: the Python ints only bound the
        static slices of the tree that can be non-empty at this simulation. ``new_node`` (= sim+1,
        eager uncompiled searches only) lets the column writes use a plain index.
        """
        node = (sim + 1).view(1) if new_node is None else new_node
        select, expand = self._tree_steps()
        descent = select(state, consts, sim, extent_nodes, chase_steps)
        out = self._call(lambda: model.recurrent_inference(descent.latent.to(self._latent_model_dtype),
                                                           descent.joint_action, agent_mask), descent.latent.device)
        write_column(state.latents, 1, node, out.latent.to(self.config.latent_dtype))
        expand(state, consts, descent, out.reward, out.value, out.policy_logits, node, uniforms, extent_nodes,
               extent_depths)

    def _tree_steps(self):
        """(select, expand), compiled once per engine when ``config.compile_tree`` is set."""
        if not self.config.compile_tree:
            return self._select, self._expand
        if self._compiled is None:
            self._compiled = (torch.compile(self._select, dynamic=False), torch.compile(self._expand, dynamic=False))
        return self._compiled

    def _select(self, state: TreeState, consts: _Constants, sim: Tensor, extent_nodes: int, chase_steps: int) -> _Descent:
        """Descend every root to its leaf; gather the parent latent and joint action to expand."""
        cfg = self.config
        k = cfg.num_sampled_actions
        b = consts.batch_ids
        low, scale = advantage_bounds(state, sim, extent_nodes, cfg.min_max_delta)
        best = best_slots(state, low, scale, cfg.c1, cfg.c2, extent_nodes)
        if cfg.root_round_robin:
            best = force_root_round_robin(best, sim, state.root_num_children)
        leaf = chase_to_leaf(state, best, extent_nodes, chase_steps)
        overflow = state.depth.gather(1, leaf.unsqueeze(1)).squeeze(1) >= cfg.max_depth
        parent = torch.where(overflow, state.parent.gather(1, leaf.unsqueeze(1)).squeeze(1), leaf)
        slot = torch.where(overflow, state.slot.gather(1, leaf.unsqueeze(1)).squeeze(1),
                           best.gather(1, leaf.unsqueeze(1)).squeeze(1))
        flat_parent = b * (state.dummy + 1) + parent
        latent = state.latents.flatten(0, 1).index_select(0, flat_parent)
        joint_action = state.child_action.flatten(0, 2).index_select(0, flat_parent * k + slot).long()
        return _Descent(leaf, overflow, parent, slot, flat_parent, latent, joint_action)

    def _expand(self, state: TreeState, consts: _Constants, descent: _Descent, model_reward: Tensor,
                model_value: Tensor, policy_logits: Tensor, node: Tensor | int, uniforms: Tensor,
                extent_nodes: int, extent_depths: int) -> None:
        """Create node sim+1 (its latent is already stored), sample its children, back up its value."""
        cfg = self.config
        k = cfg.num_sampled_actions
        gamma = cfg.discount
        leaf, overflow, parent, slot = descent.leaf, descent.overflow, descent.parent, descent.slot
        reward = torch.where(overflow, state.reward.gather(1, leaf.unsqueeze(1)).squeeze(1), model_reward.to(cfg.value_dtype))
        value = torch.where(overflow, state.pred_value.gather(1, leaf.unsqueeze(1)).squeeze(1), model_value.to(cfg.value_dtype))

        # --- the new node m = sim + 1
        probs = torch.softmax(policy_logits.float(), dim=-1)
        children = self._sample(probs, tempered(probs, cfg.sampling_temperature), uniforms, state)
        self._write_children(state, node, children, uniforms[:, -k:])

        parent_depth = state.depth.gather(1, parent.unsqueeze(1)).squeeze(1)
        depth = parent_depth + 1
        parent_pow = state.disc_pow.gather(1, parent.unsqueeze(1)).squeeze(1)
        disc_return = state.disc_return.gather(1, parent.unsqueeze(1)).squeeze(1) + parent_pow * reward
        disc_pow = parent_pow * gamma
        key = disc_return + disc_pow * value
        depth_ids = torch.arange(state.ancestor_t.shape[1], device=depth.device)
        ancestors = state.ancestor_t.gather(2, parent.view(-1, 1, 1).expand(-1, depth_ids.shape[0], 1)).squeeze(2).long()
        ancestors = torch.where(depth_ids.unsqueeze(0) == depth.unsqueeze(1), node, ancestors)

        in_top = insert_leaf(state, ancestors[:, :extent_depths], depth, key, extent_nodes, extent_depths,
                             consts.size_table, consts.lam_pow)
        for table, column in ((state.parent, parent), (state.slot, slot), (state.depth, depth),
                              (state.reward, reward), (state.pred_value, value), (state.disc_return, disc_return),
                              (state.disc_pow, disc_pow), (state.key, key), (state.is_revisit, overflow)):
            write_column(table, 1, node, column)
        linked = torch.where(overflow, leaf, node)          # a revisit keeps the slot pointing at u
        state.child_node.view(-1).scatter_(0, descent.flat_parent * k + slot, linked)
        write_column(state.ancestor_t, 2, node, ancestors.to(state.ancestor_t.dtype))
        write_column(state.in_top_t[:, :extent_depths], 2, node, in_top)
        backup_path(state, ancestors[:, :extent_depths], depth, cfg.discount)

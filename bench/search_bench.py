"""Benchmark of the search engine: full search vs model-only floor vs tree-only, and memory.

    python bench/search_bench.py --device cpu [--quick] [--batch-sizes 1,4,64,256]
    python bench/search_bench.py --device cuda --cuda-graph [--bf16] [--compile]

The stand-in model has the paper's cost (3 agents, hidden 128, 3-layer transformer communication,
per-agent MLPs, centralised value/reward heads); weights are random.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from search import ModelOutput, SampledMCTS, SearchConfig  # noqa: E402
from search.tree import allocate_tree, tree_nbytes  # noqa: E402


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear -> ReLU -> LayerNorm per layer, as in the reference model."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU(), nn.LayerNorm(b)]
    return nn.Sequential(*layers)


class PaperSizeModel(nn.Module):
    """Cost stand-in for the MAZero model (random weights, eval mode)."""

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, hidden: int = 128) -> None:
        super().__init__()
        self.n_actions = n_actions
        self.represent = mlp([obs_dim, hidden, hidden])
        self.action_in = nn.Linear(hidden + n_actions, hidden)
        layer = nn.TransformerEncoderLayer(hidden, nhead=8, dim_feedforward=128, dropout=0.0, batch_first=True)
        self.communicate = nn.TransformerEncoder(layer, num_layers=3, enable_nested_tensor=False)
        self.dynamics = nn.Sequential(mlp([2 * hidden + n_actions, hidden, hidden]), nn.Linear(hidden, hidden))
        self.reward = nn.Sequential(mlp([n_agents * (hidden + n_actions), 32]), nn.Linear(32, 1))
        self.value = nn.Sequential(mlp([n_agents * hidden, 32]), nn.Linear(32, 1))
        self.policy = nn.Sequential(mlp([hidden, 32]), nn.Linear(32, n_actions))
        self.eval()

    def _predict(self, latent: Tensor, reward: Tensor | None) -> ModelOutput:
        return ModelOutput(latent, reward, self.value(latent.flatten(1)).squeeze(-1), self.policy(latent))

    def initial_inference(self, obs: Tensor, agent_mask: Tensor) -> ModelOutput:
        return self._predict(self.represent(obs), None)

    def recurrent_inference(self, latent: Tensor, joint_action: Tensor, agent_mask: Tensor) -> ModelOutput:
        onehot = nn.functional.one_hot(joint_action, self.n_actions).to(latent.dtype)
        features = self.communicate(self.action_in(torch.cat([latent, onehot], -1)))
        nxt = latent + self.dynamics(torch.cat([latent, features, onehot], -1))
        reward = self.reward(torch.cat([latent, onehot], -1).flatten(1)).squeeze(-1)
        return self._predict(nxt, reward)


class FakeModel:
    """Zero-cost model: returns precomputed outputs, cycling through a few random sets."""

    def __init__(self, batch: int, n_agents: int, n_actions: int, hidden: int, device: torch.device) -> None:
        g = torch.Generator(device="cpu").manual_seed(0)
        self.outputs = [ModelOutput(torch.randn(batch, n_agents, hidden, generator=g).to(device),
                                    torch.randn(batch, generator=g).to(device), torch.randn(batch, generator=g).to(device),
                                    torch.randn(batch, n_agents, n_actions, generator=g).to(device)) for _ in range(7)]
        self.calls = 0

    def initial_inference(self, obs: Tensor, agent_mask: Tensor) -> ModelOutput:
        return self.outputs[0]

    def recurrent_inference(self, latent: Tensor, joint_action: Tensor, agent_mask: Tensor) -> ModelOutput:
        self.calls += 1
        return self.outputs[self.calls % 7]


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Best wall time of ``repeats`` runs after one warm-up, synchronised on cuda."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def model_only(model: PaperSizeModel, obs: Tensor, mask: Tensor, cfg: SearchConfig, device: torch.device,
               use_graph: bool) -> Callable[[], object]:
    """The search's model calls alone: one initial + N_sim recurrent calls at batch B."""
    batch, n_agents = mask.shape
    actions = torch.randint(0, model.n_actions, (batch, n_agents), device=device)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)) if cfg.autocast_bf16 \
        else (lambda: torch.autocast(device.type, enabled=False))
    with torch.no_grad(), autocast():
        latent = model.initial_inference(obs, mask).latent.float()
    if use_graph:
        static_latent = latent.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad(), autocast():
            model.recurrent_inference(static_latent, actions, mask)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.no_grad(), autocast():
            model.recurrent_inference(static_latent, actions, mask)

    def run() -> None:
        with torch.no_grad(), autocast():
            model.initial_inference(obs, mask)
            for _ in range(cfg.num_simulations):
                if use_graph:
                    graph.replay()
                else:
                    model.recurrent_inference(latent, actions, mask)
    return run


def memory_report(cfg: SearchConfig, device: torch.device) -> dict[str, float]:
    """Bytes of the 1536 x N_sim tree arrays and latent pool, 3 agents (8 actions) and 27 agents (36)."""
    report = {}
    for label, n_agents in (("3 agents", 3), ("27 agents", 27)):
        state = allocate_tree(1536, cfg.num_simulations, cfg.num_sampled_actions, n_agents, (128,), cfg.max_depth,
                              torch.device("meta"), cfg.value_dtype, torch.float32)
        arrays = tree_nbytes(state)
        pool = state.latents.numel() * 4
        report[label] = {"search_arrays_MB": arrays / 2**20, "latent_pool_fp32_MB": pool / 2**20,
                         "latent_pool_bf16_MB": pool / 2**21}
    return report


def measured_peak(cfg: SearchConfig, device: torch.device, n_agents: int, n_actions: int, obs_dim: int,
                  batch: int) -> float:
    """Peak CUDA memory (MB) of one full search with the real-size model (cuda only)."""
    model = PaperSizeModel(n_agents, obs_dim, n_actions).to(device)
    obs = torch.randn(batch, n_agents, obs_dim, device=device)
    mask = torch.ones(batch, n_agents, dtype=torch.bool, device=device)
    avail = torch.ones(batch, n_agents, n_actions, device=device)
    engine = SampledMCTS(replace(cfg, use_cuda_graph=False, compile_tree=False))
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    engine.search(model, obs, avail, mask, torch.Generator(device=device).manual_seed(0))
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def mctx_tree_timer(num_simulations: int, num_actions: int, max_depth: int, repeats: int):
    """Seconds for `mctx.muzero_policy` (jit-compiled, on JAX's default device) with a zero-cost
    recurrent function over `num_actions` actions per node: the tree-only cost of DeepMind's
    library, comparable with our tree-only column (K distinct children per node). None when mctx
    is not installed. mctx has no sampled joint actions; this is its plain MuZero tree."""
    try:
        import jax
        import jax.numpy as jnp
        import mctx
    except ImportError:
        return None
    try:
        print(f"mctx {mctx.__version__} on JAX's {jax.default_backend()} back-end")
    except Exception as error:  # noqa: BLE001
        print(f"mctx skipped: JAX back-end unavailable ({error})"[:300])
        return None

    def recurrent_fn(params, rng_key, action, embedding):
        # Cheap but non-constant outputs, so the search does not run on ties.
        nxt = embedding * 0.9 + action.astype(embedding.dtype)
        out = mctx.RecurrentFnOutput(reward=jnp.sin(nxt), discount=jnp.full_like(nxt, 0.99),
                                     prior_logits=jnp.zeros((nxt.shape[0], num_actions), nxt.dtype),
                                     value=jnp.cos(nxt))
        return out, nxt

    @jax.jit
    def search(rng_key, embedding):
        root = mctx.RootFnOutput(prior_logits=jnp.zeros((embedding.shape[0], num_actions)),
                                 value=jnp.zeros(embedding.shape[0]), embedding=embedding)
        return mctx.muzero_policy(None, rng_key, root, recurrent_fn, num_simulations=num_simulations,
                                  max_depth=max_depth).action_weights

    def timer(batch: int) -> float:
        key = jax.random.PRNGKey(0)
        embedding = jnp.arange(batch, dtype=jnp.float32) / batch
        search(key, embedding).block_until_ready()  # compile
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            search(key, embedding).block_until_ready()
            best = min(best, time.perf_counter() - start)
        return best

    return timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-sizes", default="1,4,64,256,1536")
    parser.add_argument("--quick", action="store_true", help="one repeat, skip B > 256 on cpu")
    parser.add_argument("--cuda-graph", action="store_true", help="capture one simulation in a CUDA graph")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast for model calls and a bf16 latent pool")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the tree steps and the model's recurrent call (floor measured the same way)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: leave default)")
    parser.add_argument("--tree-threads", type=int, default=0, help="threads for tree ops on cpu (0: same as model)")
    parser.add_argument("--max-depth", type=int, default=SearchConfig.max_depth)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory report")
    parser.add_argument("--json", type=str, default="")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n_agents, obs_dim, n_actions = 3, 75, 8
    cfg = SearchConfig(num_simulations=100, num_sampled_actions=10, max_depth=args.max_depth,
                       use_cuda_graph=args.cuda_graph, autocast_bf16=args.bf16, compile_tree=args.compile,
                       tree_threads=args.tree_threads or None,
                       latent_dtype=torch.bfloat16 if args.bf16 else torch.float32)
    batches = [int(b) for b in args.batch_sizes.split(",")]
    if args.quick and device.type == "cpu":
        batches = [b for b in batches if b <= 256]
    repeats = 1 if args.quick else 2
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"cuda_graph {args.cuda_graph}, compile {args.compile}, bf16 {args.bf16}, N_sim {cfg.num_simulations}, K {cfg.num_sampled_actions}, "
          f"max_depth {cfg.max_depth}, tree_threads {cfg.tree_threads}")
    mctx_timer = mctx_tree_timer(cfg.num_simulations, cfg.num_sampled_actions, cfg.max_depth, repeats)
    if mctx_timer is None:
        print("mctx not installed: skipped (pip install mctx for the comparison column)")
    torch.manual_seed(0)
    model = PaperSizeModel(n_agents, obs_dim, n_actions).to(device)
    if args.compile:
        torch._dynamo.config.cache_size_limit = 64       # one compile per batch size and engine
        model.recurrent_inference = torch.compile(model.recurrent_inference, dynamic=False)
    rows = []
    header = (f"{'B':>5} {'full ms':>9} {'model ms':>9} {'full/model':>10} {'tree ms':>8} {'tree us/root-sim':>16} "
              f"{'depth':>5} {'mctx tree ms':>12}")
    print(header)
    for batch in batches:
        obs = torch.randn(batch, n_agents, obs_dim, device=device)
        mask = torch.ones(batch, n_agents, dtype=torch.bool, device=device)
        avail = torch.ones(batch, n_agents, n_actions, device=device)
        gen = torch.Generator(device=device).manual_seed(0)
        engine = SampledMCTS(cfg)
        holder: dict[str, object] = {}

        def full() -> None:
            holder["result"] = engine.search(model, obs, avail, mask, gen, return_tree=True)
        full_s = timed(full, device, repeats)
        depth = int(holder["result"].tree.depth.max())
        model_s = timed(model_only(model, obs, mask, cfg, device, args.cuda_graph and device.type == "cuda"),
                        device, repeats)
        fake = FakeModel(batch, n_agents, n_actions, 128, device)
        tree_engine = SampledMCTS(cfg)
        tree_s = timed(lambda: tree_engine.search(fake, obs, avail, mask, gen), device, repeats)
        per_root_sim = tree_s / (batch * cfg.num_simulations) * 1e6
        mctx_s = float("nan")
        if mctx_timer is not None:
            try:
                mctx_s = mctx_timer(batch)
            except Exception as error:  # noqa: BLE001  (a JAX back-end problem must not lose the row)
                print(f"mctx failed: {type(error).__name__}: {error}"[:300])
                mctx_timer = None
        rows.append(dict(B=batch, full_ms=full_s * 1e3, model_ms=model_s * 1e3, ratio=full_s / model_s,
                         tree_ms=tree_s * 1e3, tree_us_per_root_sim=per_root_sim, max_depth_reached=depth,
                         mctx_tree_ms=mctx_s * 1e3))
        print(f"{batch:>5} {full_s*1e3:>9.1f} {model_s*1e3:>9.1f} {full_s/model_s:>10.3f} {tree_s*1e3:>8.1f} "
              f"{per_root_sim:>16.2f} {depth:>5} {mctx_s*1e3:>12.1f}", flush=True)
    memory = {} if args.no_memory else memory_report(cfg, device)
    for label, values in memory.items():
        print(f"memory 1536 x {cfg.num_simulations}, {label}: search arrays {values['search_arrays_MB']:.0f} MB, "
              f"latent pool {values['latent_pool_fp32_MB']:.0f} MB fp32 / {values['latent_pool_bf16_MB']:.0f} MB bf16")
    if device.type == "cuda" and not args.no_memory:
        for n, a, o in ((3, 8, 75), (27, 36, 400)):
            peak = measured_peak(cfg, device, n, a, o, 1536)
            memory[f"measured_peak_{n}_agents_MB"] = peak
            print(f"measured peak CUDA memory, full search 1536 x {cfg.num_simulations}, {n} agents: {peak:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "memory": memory}, indent=2))


if __name__ == "__main__":
    main()

"""What a trained MAZero's search knows about the real game, measured against the game itself.

At root states met while the checkpoint plays SMAX (its evaluation search: no noise, the most
visited joint action), every joint action the search sampled at the root is also played in copies
of the real environment (`SMAXVecEnv.branch`): the child's joint action first, then the prior
policy (sampled from each agent's prior) to the end of the episode. That gives each child a Monte
Carlo value under the prior (its discounted return, averaged over `--rollouts` copies) to hold
against the model's Q of the same child (r + gamma V of the search), and the real first-step
reward to hold against the model's predicted one.

    python -m tools.search_quality <run's model dir> --step 50000 --roots 64 --rollouts 16 --out q.csv
    python -m tools.search_quality <run's model dir> --step 50000 -- num_simulations=100 num_sampled_actions=5
        # the same checkpoint measured with another search
    python -m tools.search_quality --table q.csv other.csv      # the docs' table of saved measurements

Printed per root and averaged over roots (mean and 95% interval):
- rank correlation (Spearman) of the model's Q and the Monte Carlo Q over the sampled children,
  and of the predicted and real first-step rewards: does the model rank joint actions right?
- spread (std over children) of the Monte Carlo Q against its own sampling error: does the
  choice among the sampled joint actions matter in the real game?
- the Monte Carlo Q of the search's choice, of the prior's likeliest child and of the best child,
  each minus the children's mean: how much of the available improvement the search takes;
- the Monte Carlo value of the visit distribution (the policy target) minus that of the sampling
  distribution it started from: the real improvement a policy update towards the search can bring;
- the prior's greedy joint action (each agent's likeliest action): its probability under the
  prior, whether the search sampled it among its root's candidates, whether the search played
  it, and the fraction of agents whose action the search shares with it (`-- test_sampling_temperature=0.25`
  measures an evaluation search that samples its candidates from the sharper pi^4).

With `--targets R`, each measured root also gets the policy target a cross-entropy update moves
the prior towards in expectation: each agent's marginal of the visit distribution, averaged over R
searches of the root, once without and once with the root's Dirichlet noise (reanalysis searches
with it when `reanalyse_noise` is on). Their entropies against the prior's say whether training
sharpens the prior or holds it where it is (mean over the agents with two or more legal actions).

    python -m tools.search_quality <run's model dir> --step 50000 --roots 32 --rollouts 1 --targets 16

With `--value-samples R`, each measured root also gets R samples of the n-step value target z_t
the learner trains towards and the run's held-out `model_value_error` compares with: R branched
copies of the root's state are played on by the evaluation search for `td_steps` steps (or to the
episode's end), and z is their discounted rewards plus the checkpoint's target model's value of
where they got to (`n_step_value_targets`, the learner's own rule). The model's mean |v(o_t) - z|
over the samples is then held against the noise floor no prediction of this state can beat, the
mean |median(z) - z|: what of the held-out value error is the model's, and what the game's.

    python -m tools.search_quality <run's model dir> --step 50000 --roots 32 --rollouts 1 --value-samples 16
        # --value-policy self-play: the n steps played as self-play plays them (the data it trains on)
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from envs.registry import make_vec_env  # noqa: E402
from envs.smax_env import SMAXVecEnv  # noqa: E402
from learners.mazero_losses import n_step_value_targets  # noqa: E402
from learners.targets import policy_entropy  # noqa: E402
from modules.mazero.build import input_pipeline, search_config  # noqa: E402
from modules.mazero.inputs import InputPipeline  # noqa: E402
from modules.mazero.model import MAZeroModel  # noqa: E402
from search import SampledMCTS, select_action_eval, select_action_train  # noqa: E402
from search.prior_agreement import (agents_with_a_choice, agreement_share, greedy_actions,  # noqa: E402
                                    greedy_agreement)
from search.result import SearchResult  # noqa: E402
from tools.mazero_checkpoint import mazero_models, read_mazero_checkpoint  # noqa: E402
from tools.tables import markdown  # noqa: E402
from utils.value_support import inverse_scalar_transform, support_values  # noqa: E402


@dataclass
class Agent:
    """A checkpoint's model with the pieces that turn SMAX observations into its inputs."""

    model: MAZeroModel
    inputs: InputPipeline
    search: SampledMCTS             # the evaluation search (its test_sampling_temperature)
    self_play_search: SampledMCTS   # self-play's (and reanalysis's) sampling temperature
    gamma: float
    generator: torch.Generator
    target_model: MAZeroModel  # the learner's bootstrap model, saved with the checkpoint
    td_steps: int
    visit_temperature: float

    @torch.no_grad()
    def search_actions(self, obs: np.ndarray, avail: np.ndarray, self_play: bool,
                       generator: torch.Generator) -> np.ndarray:
        """Env actions [B, N] of the evaluation search (no noise, most visited child) or, with
        `self_play`, of self-play's (root noise, a child sampled from N^(1/T))."""
        inputs, model_avail, mask = self.model_inputs(obs, avail)
        search = self.self_play_search if self_play else self.search
        result = search.search(self.model, inputs, model_avail, mask, generator, add_noise=self_play)
        chosen = (select_action_train(result, self.visit_temperature, generator) if self_play
                  else select_action_eval(result, generator))
        return self.inputs.view.to_env(chosen).numpy()

    def model_inputs(self, obs: np.ndarray, avail: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        frames = torch.as_tensor(obs, dtype=torch.float32).unsqueeze(1)  # one stacked frame
        return self.inputs(frames, torch.as_tensor(avail))

    @torch.no_grad()
    def prior_actions(self, obs: np.ndarray, avail: np.ndarray) -> np.ndarray:
        """One joint action per env sampled from each agent's prior (legal actions only)."""
        inputs, model_avail, _ = self.model_inputs(obs, avail)
        logits = self.model.prior_logits(inputs, model_avail)
        draws = torch.multinomial(torch.softmax(logits, -1).flatten(0, 1), 1, generator=self.generator)
        return self.inputs.view.to_env(draws.view(logits.shape[:2])).numpy()


SEARCH_KEYS = ("num_simulations", "num_sampled_actions", "mcts_rho", "mcts_lambda", "pb_c_init", "pb_c_base",
               "max_search_depth", "sampling_temperature", "test_sampling_temperature")


def search_overrides(items: list[str]) -> dict:
    """`key=value` pairs that change the search the checkpoint is measured with (values read as YAML)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in SEARCH_KEYS:
            raise SystemExit(f"override '{item}' must be key=value with key one of {', '.join(SEARCH_KEYS)}")
        out[key] = yaml.safe_load(value)
    return out


def load_agent(run_dir: Path, step: int, seed: int, overrides: dict | None = None) -> tuple[Agent, SMAXVecEnv]:
    """The checkpoint's model and search, and one environment of its map to play (seeded `seed`)."""
    state, args = read_mazero_checkpoint(run_dir, step, overrides)
    if args.stacked_observations != 1:
        raise SystemExit("this tool feeds one observation frame; the checkpoint stacks "
                         f"{args.stacked_observations}")
    env = make_vec_env(args.env, args.env_args, [seed])
    if not isinstance(env, SMAXVecEnv):
        raise SystemExit("this tool branches SMAX environments (env sc2 with the smax backend)")
    args.env_info = env.get_env_info()
    model, target_model = mazero_models(state, args)
    agent = Agent(model, input_pipeline(args), SampledMCTS(search_config(args, use_noise=False, test=True)),
                  SampledMCTS(search_config(args, use_noise=True)), args.gamma,
                  torch.Generator().manual_seed(seed), target_model, args.td_steps, args.visit_temperature)
    return agent, env


def visit_marginals(joint_actions: torch.Tensor, weights: torch.Tensor, n_actions: int) -> torch.Tensor:
    """Each agent's marginal [N, A] of a distribution over joint actions [C, N] with weights [C]."""
    probs = weights.double() / weights.double().sum()
    marginals = torch.zeros(joint_actions.shape[1], n_actions, dtype=torch.float64)
    for agent in range(joint_actions.shape[1]):
        marginals[agent].index_add_(0, joint_actions[:, agent].long(), probs)
    return marginals


def mean_entropy(probs: torch.Tensor, agents: torch.Tensor) -> float:
    """Mean over the selected agents of the entropy (nats) of their rows of probs [N, A]."""
    return float(policy_entropy(probs)[agents].mean()) if agents.any() else float("nan")


@torch.no_grad()
def expected_targets(env: SMAXVecEnv, agent: Agent, repeats: int) -> dict:
    """Entropy of the prior and of the expected visit-target marginals at env 0's state, searched
    `repeats` times without and with root noise (at training's sampling temperature)."""
    inputs, avail, mask = agent.model_inputs(env.get_obs(), env.get_avail_actions())
    prior = torch.softmax(agent.model.prior_logits(inputs, avail)[0].double(), -1)
    choosing = agents_with_a_choice(avail[0])
    out = {"prior_entropy": mean_entropy(prior, choosing)}
    for column, noise in (("target_entropy", False), ("noisy_target_entropy", True)):
        total = torch.zeros_like(prior)
        for _ in range(repeats):
            result = agent.self_play_search.search(agent.model, inputs, avail, mask, agent.generator, add_noise=noise)
            valid = result.valid[0]
            total += visit_marginals(result.joint_actions[0][valid], result.visit_counts[0][valid], prior.shape[-1])
        out[column] = mean_entropy(total / repeats, choosing)
    return out


def rollout_returns(env: SMAXVecEnv, first: np.ndarray, agent: Agent) -> tuple[np.ndarray, np.ndarray]:
    """(discounted return, first reward) per env: `first` [B, N] now, the prior afterwards."""
    active = np.ones(env.num_envs, dtype=bool)
    returns = np.zeros(env.num_envs)
    discount = np.ones(env.num_envs)
    actions, first_reward = first, None
    while active.any():
        rewards, terminated, _ = env.step(actions, active)
        if first_reward is None:
            first_reward = rewards.astype(np.float64)
        returns += discount * rewards * active
        discount *= agent.gamma
        active &= ~terminated
        if active.any():
            actions = agent.prior_actions(env.get_obs(), env.get_avail_actions())
    return returns, first_reward


@torch.no_grad()
def n_step_value_samples(env: SMAXVecEnv, agent: Agent, copies: int, seed: int, self_play: bool = False) -> np.ndarray:
    """`copies` samples of z_t at env 0's state: branched copies played on by the evaluation search
    (or self-play's) for td_steps steps or to their episode's end, rewards discounted and the target
    model's value of each copy's last observation as the bootstrap (0 after a terminal step, as in
    training). The searches draw from their own stream (`seed`), so the episodes the roots come
    from are the same whichever policy plays the copies."""
    n = agent.td_steps
    generator = torch.Generator().manual_seed(seed)
    branch = env.branch(0, copies, seed)
    active = np.ones(copies, dtype=bool)
    rewards = torch.zeros(copies, n)
    played = torch.zeros(copies, dtype=torch.long)
    truncated = torch.zeros(copies, dtype=torch.bool)
    last_obs, last_avail = branch.get_obs(), branch.get_avail_actions()
    for step in range(n):
        if not active.any():
            break
        live = np.flatnonzero(active)
        actions = np.zeros(last_avail.shape[:2], dtype=np.int64)
        actions[live] = agent.search_actions(last_obs[live], last_avail[live], self_play, generator)
        reward, terminated, infos = branch.step(actions, active)
        obs, avail_now = branch.get_obs(), branch.get_avail_actions()
        last_obs[live], last_avail[live] = obs[live], avail_now[live]
        rewards[live, step] = torch.as_tensor(reward[live])
        played[live] += 1
        for b in live[terminated[live]]:
            truncated[b] = bool(infos[b].get("episode_limit", False))
        active &= ~terminated
    inputs, _, mask = agent.model_inputs(last_obs, last_avail)
    bootstrap = torch.zeros(copies, n + 1)
    bootstrap[torch.arange(copies), played] = agent.target_model.initial_inference(inputs, mask).value.float()
    steps_left = torch.where(torch.as_tensor(active), torch.full_like(played, n + 1), played)
    z = n_step_value_targets(rewards, bootstrap, steps_left, n, agent.gamma, truncated=truncated)
    return z[:, 0].double().numpy()


def mean_of_value_distribution(logits: torch.Tensor) -> torch.Tensor:
    """E[h^-1(bin)] of value logits [..., 2S+1]: the mean of the predicted distribution in value
    space. The model's value (search and metric) is h^-1(E[bin]), which h^-1's convexity puts
    below it for positive values: the gap is what decoding alone takes off the prediction."""
    bins = inverse_scalar_transform(support_values(logits.shape[-1] // 2, logits.device).double())
    return torch.softmax(logits.double(), -1) @ bins


def value_error_against_floor(prediction: float, samples: np.ndarray) -> dict:
    """The prediction's mean absolute error over samples of its target, and the floor under it: the
    mean absolute error of the samples' median, the constant that minimises it (in-sample, so the
    floor is slightly optimistic for few samples)."""
    return {"value_error": float(np.abs(prediction - samples).mean()),
            "value_error_floor": float(np.abs(np.median(samples) - samples).mean()),
            "value_bias": float(prediction - samples.mean()),
            "value_target_mean": float(samples.mean())}


@torch.no_grad()
def value_measurements(env: SMAXVecEnv, agent: Agent, root_value: float, copies: int, seed: int,
                       self_play: bool) -> dict:
    """The search's value of env 0's state against `copies` sampled n-step targets there, and the
    mean of the value distribution it was decoded from."""
    z = n_step_value_samples(env, agent, copies, seed, self_play)
    inputs, _, mask = agent.model_inputs(env.get_obs(), env.get_avail_actions())
    logits = agent.model.initial_inference(inputs, mask).value_logits[0]
    return value_error_against_floor(root_value, z) | {
        "value_distribution_mean": float(mean_of_value_distribution(logits))}


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Rank correlation (average ranks for ties); nan when either side is constant."""
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


@torch.no_grad()
def search_root(env: SMAXVecEnv, agent: Agent, with_tree: bool) -> SearchResult:
    """The evaluation search (no noise) at env 0's current state."""
    inputs, avail, mask = agent.model_inputs(env.get_obs(), env.get_avail_actions())
    return agent.search.search(agent.model, inputs, avail, mask, agent.generator, add_noise=False,
                               return_tree=with_tree)


def greedy_statistics(children: torch.Tensor, chosen: torch.Tensor, prior_logits: torch.Tensor,
                      avail: torch.Tensor) -> dict:
    """Where the search's choice stands against the prior's greedy joint action (each agent's
    likeliest action) at one root: children [C, N] and chosen [N] are model actions, prior_logits
    [N, A] and avail [N, A] the root's. A flat prior over many agents gives its greedy joint action
    little mass, so K draws may miss it."""
    greedy = greedy_actions(prior_logits, avail)
    choosing = agents_with_a_choice(avail)
    masked = prior_logits.double().masked_fill(~avail.bool(), float("-inf"))
    top = torch.softmax(masked, -1).max(-1).values
    played = greedy_agreement(chosen[None], prior_logits[None], avail[None])
    return {
        "greedy_joint_prob": float(top[choosing].prod()),
        "greedy_in_candidates": float(bool((children == greedy).all(-1).any())),
        "search_picks_greedy": float(played.joint[0]),
        "greedy_agreement": float(agreement_share(played.agreeing, played.choosing)[0]),
    }


@torch.no_grad()
def measure_root(env: SMAXVecEnv, agent: Agent, result: SearchResult, chosen: torch.Tensor, rollouts: int,
                 seed: int) -> dict:
    """One root's measurements, from its search (with the tree) and the joint action played there."""
    valid = result.valid[0]
    children = result.joint_actions[0][valid]                      # [C, N] model actions
    inputs, avail, _ = agent.model_inputs(env.get_obs(), env.get_avail_actions())
    n_children = len(children)
    env_children = agent.inputs.view.to_env(children).numpy()
    branch = env.branch(0, n_children * rollouts, seed)
    returns, first = rollout_returns(branch, np.repeat(env_children, rollouts, axis=0), agent)
    mc_q = returns.reshape(n_children, rollouts)
    real_r = first.reshape(n_children, rollouts).mean(1)
    tree = result.tree
    model_r = tree.reward[0][tree.child_node[0, 0][valid].clamp(min=0)].numpy()
    model_q, visits, prior, sampled = (x[0][valid].numpy() for x in (result.q_values, result.visit_counts,
                                                                     result.prior, result.beta_hat))
    q = mc_q.mean(1)
    pick = int((children == chosen[0]).all(-1).nonzero()[0, 0]) if n_children else 0
    return {
        "children": n_children,
        "q_rank_corr": spearman(model_q, q) if n_children >= 3 else float("nan"),
        "reward_rank_corr": spearman(model_r, real_r) if n_children >= 3 else float("nan"),
        "mc_q_spread": float(q.std()),
        "mc_q_stderr": float((mc_q.std(1, ddof=1) / np.sqrt(rollouts)).mean()) if rollouts > 1 else float("nan"),
        "model_q_spread": float(model_q.std()),
        "search_pick_gain": float(q[pick] - q.mean()),
        "prior_pick_gain": float(q[int(prior.argmax())] - q.mean()),
        "best_child_gain": float(q.max() - q.mean()),
        "visit_target_gain": float((visits / max(visits.sum(), 1) - sampled / sampled.sum()) @ q),
        "mc_q_mean": float(q.mean()),
        "model_q_mean": float(model_q.mean()),
        "root_value_pred": float(result.root_pred_value[0]),
        "max_visit_share": float(visits.max() / max(visits.sum(), 1)),
    } | greedy_statistics(children, chosen[0], result.root_policy_logits[0], avail[0])


def collect(agent: Agent, env: SMAXVecEnv, roots: int, every: int, rollouts: int, seed: int,
            targets: int = 0, value_samples: int = 0, value_self_play: bool = False) -> pd.DataFrame:
    """Plays evaluation episodes and measures every `every`-th decision until `roots` are measured."""
    rows, t, episode = [], 0, 0
    while len(rows) < roots:
        measured = t % every == 0
        result = search_root(env, agent, with_tree=measured)
        chosen = select_action_eval(result, agent.generator)
        if measured:
            row = measure_root(env, agent, result, chosen, rollouts, seed * 100_003 + len(rows))
            if targets:
                row |= expected_targets(env, agent, targets)
            if value_samples:
                row |= value_measurements(env, agent, row["root_value_pred"], value_samples,
                                          seed * 100_003 + len(rows) + 50_000, value_self_play)
            rows.append({"episode": episode, "t": t, **row})
        _, terminated, _ = env.step(agent.inputs.view.to_env(chosen).numpy(), np.ones(1, dtype=bool))
        t += 1
        if terminated[0]:
            env.reset([seed + episode + 1])
            t, episode = 0, episode + 1
    return pd.DataFrame(rows)


def with_derived_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Adds `value_state_error`, |mean of the value distribution - mean target| at each root: the
    model's error at the state once the offset shared by all roots has no say in its sign (the
    mean over roots of `value_bias` alone lets roots above and below cancel)."""
    if {"value_distribution_mean", "value_target_mean"} <= set(table.columns):
        table = table.assign(value_state_error=(table["value_distribution_mean"] - table["value_target_mean"]).abs())
    return table


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and normal 95% interval over roots of every measured or derived column (nan entries dropped)."""
    table, out = with_derived_columns(table), {}
    for column in table.columns.drop(["episode", "t"]):
        values = table[column].dropna().to_numpy(dtype=float)
        half = 1.96 * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
        out[column] = {"mean": values.mean() if len(values) else float("nan"), "ci95": half, "roots": len(values)}
    return pd.DataFrame(out).T


TABLE_COLUMNS = ("q_rank_corr", "reward_rank_corr", "mc_q_spread", "mc_q_stderr", "model_q_spread",
                 "search_pick_gain", "visit_target_gain", "mc_q_mean")


def markdown_table(paths: list[Path], columns: tuple[str, ...] = TABLE_COLUMNS) -> str:
    """One row per measurement CSV (named by its file stem): mean +- 95% half-width over its roots."""
    rows = []
    for path in paths:
        summary = summarise(pd.read_csv(path))
        missing = [c for c in columns if c not in summary.index]
        if missing:
            raise SystemExit(f"{path} has no column {', '.join(missing)}")
        cells = [f"{summary.loc[c, 'mean']:.3f} ± {summary.loc[c, 'ci95']:.3f}" for c in columns]
        rows.append([path.stem, str(int(summary.loc["children", "roots"]))] + cells)
    return markdown(["measurement", "roots"] + [f"`{c}`" for c in columns], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, nargs="?", help="a run's model directory, a step directory or a checkpoint file")
    parser.add_argument("--table", type=Path, nargs="+", metavar="CSV",
                        help="instead of measuring: a markdown table of these measurement CSVs (docs/results.md)")
    parser.add_argument("--columns", nargs="+", default=list(TABLE_COLUMNS), help="the --table's columns")
    parser.add_argument("--step", type=int, default=0, help="saved step to read (0: the newest)")
    parser.add_argument("--roots", type=int, default=64, help="root states to measure")
    parser.add_argument("--every", type=int, default=4, help="measure every n-th decision of the played episodes")
    parser.add_argument("--rollouts", type=int, default=8, help="real-environment rollouts per sampled child")
    parser.add_argument("--targets", type=int, default=0, metavar="R",
                        help="also the entropies of the prior and of the expected policy target over R searches")
    parser.add_argument("--value-samples", type=int, default=0, metavar="R",
                        help="also the value error at the root against its noise floor, from R sampled n-step targets")
    parser.add_argument("--value-policy", choices=("eval", "self-play"), default="eval",
                        help="who plays the n steps of --value-samples: the evaluation search (the held-out "
                             "metric's test episodes) or self-play's (root noise, visits sampled at visit_temperature)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="CSV of the per-root measurements")
    parser.epilog = (f"Anything after -- sets the search to measure instead of the checkpoint's own: key=value "
                     f"with key in {', '.join(SEARCH_KEYS)}.")
    argv = sys.argv[1:] if argv is None else list(argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    options = parser.parse_args(argv[:cut])
    options.overrides = argv[cut + 1:]
    if options.table:
        print(markdown_table(options.table, tuple(options.columns)))
        return
    if options.run_dir is None:
        parser.error("give a run's model directory (or --table CSV...)")
    if options.roots < 1 or options.every < 1 or options.rollouts < 1 or options.targets < 0:
        parser.error("--roots, --every and --rollouts must be >= 1, --targets >= 0")
    if options.value_samples == 1 or options.value_samples < 0:
        parser.error("--value-samples must be 0 (off) or >= 2 (a floor needs a spread)")
    overrides = search_overrides(options.overrides)
    torch.set_num_threads(1)
    agent, env = load_agent(options.run_dir, options.step, options.seed, overrides)
    table = collect(agent, env, options.roots, options.every, options.rollouts, options.seed, options.targets,
                    options.value_samples, options.value_policy == "self-play")
    if options.out:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(options.out, index=False)
    print(summarise(table).to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()

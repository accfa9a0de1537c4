"""What a MAZero checkpoint of a matrix game has learned about the game's first step, against the
game's own payoff table.

At t = 0 every joint action (a0, a1) is put through the model: the reward it predicts against the
payoff, the value of the latent after it, their Q = r + gamma V, and the joint prior
p0(a0) p1(a1) (each agent's prior from its own observation). Payoffs are in the run's action
labels (its seed's relabelling, as its runner built the game).

    python -m tools.matrix_model <run's model dir> [--step T] --out docs/runs/matrix/model/<row>.csv
    python -m tools.matrix_model --table a.csv b.csv        # the docs' one-row-per-checkpoint summary

The summary says where a search with this model goes: `reward_error_max` (the reward table's worst
cell), `next_value_spread` (max - min over the nine latents after a joint action: the next state is
the same whatever the joint action, so an exact model has 0), `optimum_q_margin` (Q of the optimal
joint action minus the best other Q: positive when the model ranks the optimum first),
`optimum_prior` (the joint prior's mass on the optimum) and `prior_choice_payoff` (the payoff of
the prior's likeliest joint action).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from envs.registry import make_vec_env  # noqa: E402
from modules.mazero.build import input_pipeline  # noqa: E402
from runners.parallel_runner import construction_seeds  # noqa: E402
from tools.mazero_checkpoint import mazero_models, read_mazero_checkpoint  # noqa: E402
from tools.tables import markdown  # noqa: E402

SUMMARY_COLUMNS = ("reward_error_max", "next_value_spread", "optimum_q_margin", "optimum_prior", "prior_choice_payoff")


@torch.no_grad()
def first_step_table(run_dir: Path, step: int) -> pd.DataFrame:
    """One row per joint action at t = 0: a0, a1, payoff, reward, next_value, q, prior."""
    state, args = read_mazero_checkpoint(run_dir, step)
    if args.env != "matrix":
        raise SystemExit(f"this tool reads matrix-game checkpoints; this one ran on '{args.env}'")
    if args.stacked_observations != 1 or args.model_type != "factored":
        raise SystemExit("this tool feeds one observation frame to a factored model")
    env = make_vec_env(args.env, args.env_args, construction_seeds(args))  # the run's action relabelling
    env.reset()
    args.env_info = env.get_env_info()
    model, _ = mazero_models(state, args)
    payoff = torch.as_tensor(env.envs[0].payoff)
    n_actions = payoff.shape[0]
    frames = torch.as_tensor(env.get_obs()[:1], dtype=torch.float32).unsqueeze(1)  # [1, F=1, N, O]
    inputs, avail, mask = input_pipeline(args)(frames, torch.as_tensor(env.get_avail_actions()[:1]))
    prior = torch.softmax(model.prior_logits(inputs, avail)[0].double(), -1)  # [N, A]
    joint = torch.cartesian_prod(torch.arange(n_actions), torch.arange(n_actions))  # [A*A, 2]
    root = model.initial_inference(inputs, mask)
    step_out = model.recurrent_inference(root.latent.expand(len(joint), -1, -1), joint,
                                         mask.expand(len(joint), -1))
    reward, next_value = step_out.reward.double().flatten(), step_out.value.double().flatten()
    return pd.DataFrame({
        "a0": joint[:, 0].numpy(), "a1": joint[:, 1].numpy(),
        "payoff": payoff[joint[:, 0], joint[:, 1]].double().numpy(),
        "reward": reward.numpy(), "next_value": next_value.numpy(),
        "q": (reward + args.gamma * next_value).numpy(),
        "prior": (prior[0, joint[:, 0]] * prior[1, joint[:, 1]]).numpy(),
    })


def summarise(table: pd.DataFrame) -> dict[str, float]:
    """The summary columns of one checkpoint's first-step table (module docstring)."""
    optimum = int(table["payoff"].idxmax())
    others = table.drop(index=optimum)
    return {
        "reward_error_max": float((table["reward"] - table["payoff"]).abs().max()),
        "next_value_spread": float(table["next_value"].max() - table["next_value"].min()),
        "optimum_q_margin": float(table.loc[optimum, "q"] - others["q"].max()),
        "optimum_prior": float(table.loc[optimum, "prior"]),
        "prior_choice_payoff": float(table.loc[table["prior"].idxmax(), "payoff"]),
    }


def markdown_table(paths: list[Path]) -> str:
    """One row per first-step CSV, named by its file stem."""
    rows = []
    for path in paths:
        summary = summarise(pd.read_csv(path))
        rows.append([path.stem] + [f"{summary[c]:.2f}" for c in SUMMARY_COLUMNS])
    return markdown(["checkpoint"] + [f"`{c}`" for c in SUMMARY_COLUMNS], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, nargs="?", help="a run's model directory, a step directory or a checkpoint file")
    parser.add_argument("--table", type=Path, nargs="+", metavar="CSV",
                        help="instead of measuring: a markdown table of these first-step CSVs (docs/results.md)")
    parser.add_argument("--step", type=int, default=0, help="saved step to read (0: the newest)")
    parser.add_argument("--out", type=Path, help="CSV of the nine joint actions' rows")
    options = parser.parse_args(argv)
    if options.table:
        print(markdown_table(options.table))
        return
    if options.run_dir is None:
        parser.error("give a run's model directory (or --table CSV...)")
    torch.set_num_threads(1)
    table = first_step_table(options.run_dir, options.step)
    if options.out:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(options.out, index=False)
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print(pd.Series(summarise(table)).to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()

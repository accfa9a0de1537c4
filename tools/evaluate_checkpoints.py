"""Evaluate every saved checkpoint of a run with many test episodes.

A training-time evaluation of 32 episodes has a standard error of about 0.07 at a 0.8 win rate,
so single points and even "last 5" means move by +-0.1 between neighbouring evaluations; 1,024
episodes bring it to about 0.012. This gives a low-noise curve of the saved policies and a
final-policy number a paper can quote.

    python -m tools.evaluate_checkpoints results/models/<run> --episodes 1024 --from-step 500000
    python -m tools.evaluate_checkpoints results/models/<run> --steps 1000000 --out final.csv -- use_cuda=True
    python -m tools.evaluate_checkpoints results/models/<run> results/models/<its resumed run> --steps 50000 100000
        # a run resumed across two starts: each step from the directory that saved it
    python -m tools.evaluate_checkpoints results/models/<run> --config mazero -- num_simulations=100
        # a run saved under a config since renamed, rebuilt from the current yaml, with a deeper search
    python -m tools.evaluate_checkpoints results/models/<run> --steps 25000 50000 100000 --reach 12500 \
        --append --out evals.csv
        # a run still training: each step's first checkpoint at or after it (none yet: skipped), and
        # only the checkpoints evals.csv does not hold yet, its rows kept

Each checkpoint is evaluated by the framework itself, in a subprocess:
`src/main.py --config=<alg> --env-config=<env> with env_args.map_name=<map> checkpoint_path=<run>
load_step=<step> evaluate=True test_nepisode=<episodes> seed=<seed> save_model=False <run's keys>`,
where the algorithm, env and map come from the checkpoint's own config, as does every key the run
changed from its yaml files (a run trained with `hidden_dim=128` or a diagnostic switch is
evaluated as trained), as does what the run derived from its seed (a matrix game's action
relabelling, so another `--seed` plays the trained game), and anything after `--` is appended as
further overrides. Every `test_*`
metric of each evaluation is read back from the sacred record it writes (under `--results-dir`, a temporary directory by default), so MAZero's prior-only
evaluation comes along. The test episodes are the `--seed` run's fixed test stream
(`runners.parallel_runner.episode_seeds`), so one `--seed` for every checkpoint and every algorithm
evaluates them all on the same scenarios (common random numbers), and different seeds give
independent scenario sets.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from config.loader import available as configs_of_kind, load_layers, recursive_update  # noqa: E402
from config.resolve import dotted_items, resolve_config  # noqa: E402
from runners.parallel_runner import TRAIN_STREAM, episode_seeds  # noqa: E402
from utils.checkpoint import checkpoint_steps  # noqa: E402
from utils.checkpoint import saved_config as checkpoint_saved_config  # noqa: E402


# Keys an evaluation sets itself, or that describe the machine rather than the trained agent.
NOT_CARRIED = {"seed", "checkpoint_path", "load_step", "evaluate", "test_nepisode", "results_dir", "save_model",
               "use_cuda", "device", "env_info", "t_max"}


def saved_config(run_dir: Path, step: int) -> dict:
    """The config saved with the checkpoint at `step` (memory-mapped: a replay inside is not read)."""
    found = checkpoint_saved_config(run_dir, step)
    if found is None:
        raise ValueError(f"the checkpoint at step {step} under '{run_dir}' holds no readable config")
    return found[1]


def run_identity(config: dict) -> tuple[str, str, str]:
    """(alg config name, env config name, map) of a checkpoint's saved config."""
    return config["name"], config["env"], str((config.get("env_args") or {}).get("map_name", ""))


def trained_overrides(config: dict, alg: str | None = None) -> list[str]:
    """`key=value` for every key where the run's saved config differs from its alg/env yaml files,
    so the evaluation rebuilds the agent the run trained (e.g. `hidden_dim=128`, a diagnostic
    switch), not the yaml default. Values are Python literals, as sacred parses them.

    `alg`: the yaml to diff against when it is not the run's own `name` (a config renamed or
    removed since the run); the run's `name` then differs too and travels, so the checkpoint
    check still sees the run's own name."""
    raw = load_layers(alg or config["name"], config["env"])
    if "map_name" in (config.get("env_args") or {}):
        raw = recursive_update(raw, {"env_args": {"map_name": config["env_args"]["map_name"]}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. the SMAC -> SMAX backend fallback notice, shown by the run itself
        defaults = dotted_items(resolve_config(raw).model_dump(mode="json"))
    saved = dotted_items(config)
    return [f"{key}={value!r}" for key, value in sorted(saved.items())
            if key in defaults and value != defaults[key] and key.split(".")[0] not in NOT_CARRIED]


def seed_derived_overrides(config: dict) -> list[str]:
    """Environment settings a run derives from its own seed, pinned to the trained run's values, so
    an evaluation under another `--seed` plays the same game: a matrix game's action relabelling
    (`permutation_seed` None: drawn from the run's first training-episode seed)."""
    env_args = config.get("env_args") or {}
    if "permutation_seed" in env_args and env_args["permutation_seed"] is None:
        first = episode_seeds(int(config["seed"]), TRAIN_STREAM, 0, 1)[0]
        return [f"env_args.permutation_seed={first}"]
    return []


def evaluation_command(alg: str, env: str, map_name: str, run_dir: Path, step: int, episodes: int, seed: int,
                       results_dir: Path, overrides: list[str]) -> list[str]:
    """`overrides`: the run's own (`trained_overrides`) first, then the caller's."""
    with_args = [f"checkpoint_path={run_dir}", f"load_step={step}", "evaluate=True", f"test_nepisode={episodes}",
                 f"seed={seed}", "save_model=False", f"results_dir={results_dir}"]
    if map_name:
        with_args.insert(0, f"env_args.map_name={map_name}")
    return [sys.executable, str(REPO / "src" / "main.py"), f"--config={alg}", f"--env-config={env}", "with",
            *with_args, *overrides]


def sacred_runs(results_dir: Path) -> set[Path]:
    return {p.parent for p in (results_dir / "sacred").glob("*/*/*/run.json")}


def test_metrics(record_dir: Path) -> dict[str, float]:
    """The last value of every `test_*` metric of one sacred run."""
    with open(record_dir / "metrics.json") as f:
        metrics = json.load(f)
    return {name: float(series["values"][-1]) for name, series in metrics.items()
            if name.startswith("test_") and series["values"]}


def evaluate_step(command: list[str], results_dir: Path) -> dict[str, float]:
    before = sacred_runs(results_dir)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    new = sorted(sacred_runs(results_dir) - before)
    if done.returncode != 0 or len(new) != 1:
        raise RuntimeError(f"evaluation failed (exit {done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    return test_metrics(new[0])


def evaluate_run(run_dir: Path, steps: list[int], episodes: int, seed: int, results_dir: Path,
                 overrides: list[str], config_name: str | None = None) -> pd.DataFrame:
    """`config_name`: the alg yaml to rebuild the run with instead of its own `name` (see
    `trained_overrides`); the table's `alg` stays the run's own name."""
    config = saved_config(run_dir, steps[-1])
    alg, env, map_name = run_identity(config)
    carried = trained_overrides(config, config_name) + seed_derived_overrides(config)
    print(f"{alg} on {env} {map_name}, the run's own settings: {' '.join(carried) or '(yaml defaults)'}", flush=True)
    rows = []
    for step in steps:
        command = evaluation_command(config_name or alg, env, map_name, run_dir, step, episodes, seed, results_dir,
                                     carried + overrides)
        metrics = evaluate_step(command, results_dir)
        rows.append({"alg": alg, "env": env, "map": map_name, "step": step, "episodes": episodes, **metrics})
        print(f"{alg} {map_name} step {step:,}: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items())),
              flush=True)
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame, metric: str) -> str:
    values = table[metric].to_numpy()
    final = f"{values[-1]:.3f}"
    if ((values >= 0) & (values <= 1)).all():  # a rate: binomial standard error of the final evaluation
        final += f" (± {np.sqrt(values[-1] * (1 - values[-1]) / table['episodes'].iloc[-1]):.3f} s.e.)"
    return (f"{metric}: final {final}, mean over {len(values)} checkpoints {values.mean():.3f}, "
            f"min {values.min():.3f}, max {values.max():.3f}")


def saved_checkpoints(run_dirs: list[Path]) -> dict[int, Path]:
    """step -> the model directory holding it, over the directories of one run resumed across
    several starts (each start writes its own); they must be one run: alg, env, map and seed."""
    where: dict[int, Path] = {}
    identity = None
    for run_dir in run_dirs:
        steps = checkpoint_steps(run_dir)
        config = saved_config(run_dir, steps[-1])
        this = (*run_identity(config), config.get("seed"))
        if identity is not None and this != identity:
            raise ValueError(f"'{run_dir}' is {this} (alg, env, map, seed), not {identity}: not one run")
        identity = this
        where.update({step: run_dir for step in steps})
    return dict(sorted(where.items()))


def select_steps(saved: list[int], wanted: list[int] | None, from_step: int, reach: int | None) -> list[int]:
    """The saved steps to evaluate. Without `wanted`: every one from `from_step` on. With it: for
    each wanted step the nearest saved one, or, given `reach`, the first saved one at or after it
    and at most `reach` later (a run that has not got there yet has none, and the step is skipped;
    the nearest would be an earlier checkpoint quoted as a later step)."""
    if not wanted:
        return [s for s in saved if s >= from_step]
    if reach is None:
        return sorted({min(saved, key=lambda s, want=want: abs(s - want)) for want in wanted})
    return sorted({next(s for s in saved if s >= want) for want in wanted
                   if any(want <= s <= want + reach for s in saved)})


def evaluated_before(out: Path, episodes: int) -> pd.DataFrame:
    """The rows an `--append` keeps; refused if they were evaluated with another episode count."""
    if not out.exists():
        return pd.DataFrame()
    table = pd.read_csv(out)
    if not table.empty and set(table["episodes"]) != {episodes}:
        raise ValueError(f"'{out}' holds evaluations of {sorted(set(table['episodes']))} episodes, not {episodes}")
    return table


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides: list[str] = []
    if "--" in argv:
        overrides = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="run_dir",
                        help="a run's model directory (results/models/<run>); for a run resumed across "
                             "several starts, each start's directory")
    parser.add_argument("--episodes", type=int, default=1024, help="test episodes per checkpoint")
    parser.add_argument("--from-step", type=int, default=0, help="skip checkpoints before this env step")
    parser.add_argument("--steps", type=int, nargs="*", help="only these steps (the nearest saved ones)")
    parser.add_argument("--reach", type=int, help="with --steps: each step's first checkpoint at or after it, at "
                                                  "most this many steps later, instead of the nearest; a step "
                                                  "no checkpoint reaches yet is skipped")
    parser.add_argument("--append", action="store_true", help="keep the rows --out already holds and evaluate "
                                                              "only the checkpoints it does not hold")
    parser.add_argument("--seed", type=int, default=0, help="evaluation seed, the same for every checkpoint")
    parser.add_argument("--results-dir", type=Path, help="where the evaluations' sacred records go (default: temp)")
    parser.add_argument("--metric", default="test_battle_won_mean", help="metric of the printed summary")
    parser.add_argument("--out", type=Path, help="CSV of every checkpoint's test metrics")
    parser.add_argument("--config", help="alg config to rebuild the run with, for a run whose own config "
                                         "was since renamed or removed (its saved keys travel as overrides)")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    if args.reach is not None and (args.reach < 0 or not args.steps):
        parser.error("--reach needs --steps and must be >= 0")
    if args.append and args.out is None:
        parser.error("--append needs --out")
    for run_dir in args.run_dirs:
        if not run_dir.is_dir():
            parser.error(f"run directory '{run_dir}' does not exist")
    try:
        where = saved_checkpoints([d.resolve() for d in args.run_dirs])
        before = evaluated_before(args.out, args.episodes) if args.append else pd.DataFrame()
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    saved = list(where)
    name, _, map_name = run_identity(saved_config(where[saved[-1]], saved[-1]))  # one run: the same in every start
    steps = select_steps(saved, args.steps, args.from_step, args.reach)
    if not before.empty:
        held = {tuple(row) for row in before[["alg", "map"]].fillna("").astype(str).to_numpy()}
        if held != {(name, map_name)}:
            parser.error(f"'{args.out}' holds evaluations of {sorted(held)} (alg, map), not of this run's "
                         f"{(name, map_name)}")
        done = set(before["step"])
        steps = [s for s in steps if s not in done]
    if args.append and not steps:  # incremental: a run not yet at a new step is not an error
        print(f"nothing new to evaluate: no selected checkpoint is missing from '{args.out}'")
        return
    if not steps:
        wanted = f"steps {args.steps} within {args.reach}" if args.reach is not None else f"step {args.from_step}"
        parser.error(f"no checkpoint at or after {wanted} (saved: {saved})")

    available = configs_of_kind("algs")
    if (args.config or name) not in available:
        parser.error(f"no alg config '{args.config or name}'" + ("" if args.config else
                     " (the run's own, since renamed or removed?): pass --config <alg> with its settings now")
                     + f"; available: {', '.join(available)}")
    with tempfile.TemporaryDirectory() as tmp:
        results_dir = (args.results_dir or Path(tmp)).resolve()
        tables = [evaluate_run(run_dir, [s for s in steps if where[s] == run_dir], args.episodes, args.seed,
                               results_dir, overrides, args.config)
                  for run_dir in dict.fromkeys(where[s] for s in steps)]
    kept = [before] if not before.empty else []
    table = pd.concat([*kept, *tables], ignore_index=True).sort_values("step", kind="stable", ignore_index=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
    if args.metric in table:
        print(summary(table, args.metric))


if __name__ == "__main__":
    main()

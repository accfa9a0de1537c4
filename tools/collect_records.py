"""Copies the small records of a results dir into the repository, so its tables and figures
regenerate from a clone: each sacred run's `config.json`, `run.json`, `metrics.json` and `info.json`
(where it saved and which checkpoint it resumed from: how a resumed run's starts are joined), and
the 1,024-episode evaluation CSVs under `eval/`. Never checkpoints or replays.

    python -m tools.collect_records results/study_3m docs/runs/smax_study/3m

Runs go to `<dest>/sacred/<alg>/<env>_<map>/seed<N>/` (`.../seed<N>-run<id>/` when one seed has
several runs, e.g. a resumed one; the folder collected while it had one run is then removed), where `tools.records`, `tools.tables` and `tools.plots` read
them as they read a results dir. Paths of the machine that made them are replaced: the checkout by
`<repo>`, the results dir by `<results>`, any other absolute path under the home or temp
directories by `<local>`."""
from __future__ import annotations

import argparse
import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from tools.records import load_runs

REPO = Path(__file__).resolve().parents[1]
RECORD_FILES = ("config.json", "run.json", "metrics.json", "info.json")
LOCAL_PATH = re.compile(r"(?<![\w.])/(?:tmp|home|root|Users|private)/[^\s\"',;:]*")


def sanitise(value: Any, replacements: list[tuple[str, str]]) -> Any:
    if isinstance(value, dict):
        return {k: sanitise(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitise(v, replacements) for v in value]
    if isinstance(value, str):
        for old, new in replacements:
            value = value.replace(old, new)
        return LOCAL_PATH.sub("<local>", value)
    return value


def remove_superseded(single: Path, written: list[Path]) -> None:
    """Removes a seed's unsuffixed folder, collected while it had one run, once that run has been
    written again under its `-run<id>` name (same `run.json`); any other folder is left alone."""
    if not (single / "run.json").is_file():
        return
    record = (single / "run.json").read_text()
    if any((out / "run.json").is_file() and (out / "run.json").read_text() == record
           for out in written if out != single):
        shutil.rmtree(single)


def collect(results_dir: Path, dest: Path) -> list[Path]:
    """Copies every run's records and the evaluation CSVs; returns the run folders written."""
    results_dir = results_dir.resolve()
    replacements = [(str(results_dir), "<results>"), (str(REPO), "<repo>")]
    runs = load_runs(results_dir, statuses=None)
    per_seed = Counter((r.alg, r.env, r.map, r.seed) for r in runs)
    written = []
    for run in runs:
        name = f"seed{run.seed}" + (f"-run{run.run_dir.name}" if per_seed[(run.alg, run.env, run.map, run.seed)] > 1 else "")
        out = dest / "sacred" / run.alg / f"{run.env}_{run.map}" / name
        out.mkdir(parents=True, exist_ok=True)
        for file in RECORD_FILES:
            source = run.run_dir / file
            if source.exists():
                record = sanitise(json.loads(source.read_text()), replacements)
                (out / file).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        written.append(out)
    for alg, env, map_name, seed in (key for key, count in per_seed.items() if count > 1):
        remove_superseded(dest / "sacred" / alg / f"{env}_{map_name}" / f"seed{seed}", written)
    evaluations = sorted((results_dir / "eval").glob("*.csv"))
    if evaluations:
        (dest / "eval").mkdir(parents=True, exist_ok=True)
        for path in evaluations:
            shutil.copyfile(path, dest / "eval" / path.name)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    written = collect(args.results_dir, args.dest)
    print(f"{len(written)} runs -> {args.dest}")


if __name__ == "__main__":
    main()

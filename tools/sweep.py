"""Algorithms x maps x seeds as ordinary sacred runs of `src/main.py`, scheduled by Ray.

    python -m tools.sweep --algs mazero qmix mappo --env-config sc2 --maps 3m 2m_vs_1z --seeds 5 \
        --with env_args.backend=smax t_max=100000 [--address ray://head:10001] [--config sweep.yaml]

A run is identified by (alg, env, map, seed, overrides); its key travels in the sacred config as
`label`, so the sacred records themselves say what is done: a re-run skips keys whose run.json
is COMPLETED and runs the rest again. Failures are reported with the tail of their output and
the sweep exits 1. A manifest of the sweep is kept in `<results_dir>/sweeps/<name>.json`.

On a cluster every node needs this checkout at the same path, the same Python environment and
a shared `results_dir`, because each run is a subprocess reading and writing those paths."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.records import load_runs

REPO = Path(__file__).resolve().parents[1]
MAIN = REPO / "src" / "main.py"
RESERVED = ("seed", "label", "results_dir")  # set by the sweep per run
TAIL_LINES = 20


@dataclass(frozen=True)
class RunSpec:
    """One cell of the sweep."""

    alg: str
    env_config: str
    map: str
    seed: int
    overrides: tuple[str, ...]
    map_key: str

    @property
    def key(self) -> str:
        """Stable across invocations and machines; readable, with a digest of the overrides."""
        digest = hashlib.sha1(json.dumps(sorted(self.overrides)).encode()).hexdigest()[:8] if self.overrides else "base"
        return f"{self.alg}-{self.env_config}-{self.map}-s{self.seed}-{digest}"

    def command(self, python: str, results_dir: Path, nice: int) -> list[str]:
        prefix = ["nice", "-n", str(nice)] if nice > 0 else []
        return [*prefix, python, str(MAIN), f"--config={self.alg}", f"--env-config={self.env_config}", "with",
                f"results_dir={results_dir}", f"seed={self.seed}", f"{self.map_key}={self.map}",
                f"label={self.key}", *self.overrides]


@dataclass
class SweepConfig:
    algs: list[str]
    env_config: str
    maps: list[str]
    seeds: list[int]
    overrides: list[str] = field(default_factory=list)
    results_dir: str = "results"
    name: str | None = None
    address: str | None = None
    num_cpus: int | None = None
    num_gpus: int | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    retries: int = 0
    timeout_s: float | None = None
    nice: int = 0
    python: str = sys.executable
    map_key: str | None = None

    def runs(self) -> list[RunSpec]:
        map_key = self.map_key or ("env_args.key" if self.env_config == "gymma" else "env_args.map_name")
        return [RunSpec(a, self.env_config, m, s, tuple(self.overrides), map_key)
                for a in self.algs for m in self.maps for s in self.seeds]

    def sweep_name(self) -> str:
        if self.name:
            return self.name
        spec = json.dumps([self.algs, self.env_config, self.maps, self.seeds, sorted(self.overrides)])
        return f"{self.env_config}-{hashlib.sha1(spec.encode()).hexdigest()[:8]}"


@dataclass
class Outcome:
    """What one attempt left behind, judged from the sacred record when there is one."""

    key: str
    status: str
    returncode: int | None
    run_dir: str | None
    log: str
    tail: str
    seconds: float


# ----------------------------------------------------------------- bookkeeping
def seeds_from(value: Any) -> list[int]:
    """One number N means seeds 1..N; several numbers are the seeds themselves."""
    values = [int(v) for v in (value if isinstance(value, list) else [value])]
    return list(range(1, values[0] + 1)) if len(values) == 1 else values


def check_overrides(overrides: list[str], map_key: str) -> None:
    for item in overrides:
        if "=" not in item:
            raise SystemExit(f"--with expects key=value, got {item!r}")
        key = item.split("=", 1)[0]
        if key in RESERVED or key == map_key:
            raise SystemExit(f"--with {key}=... is set by the sweep itself (use --seeds/--maps/--results-dir)")


def record_index(results_dir: Path) -> dict[str, list[Any]]:
    """label -> that label's sacred runs, oldest first."""
    index: dict[str, list[Any]] = {}
    for run in load_runs(results_dir, statuses=None):
        index.setdefault(run.label, []).append(run)
    for runs in index.values():
        runs.sort(key=lambda r: r.run_dir.stat().st_mtime)
    return index


def is_completed(key: str, index: dict[str, list[Any]]) -> bool:
    return any(r.status == "COMPLETED" for r in index.get(key, []))


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ------------------------------------------------------------------ execution
def execute(cmd: list[str], log_path: str, timeout_s: float | None) -> tuple[int | None, float]:
    """Runs one training subprocess (inside a Ray task) with its output in `log_path`.

    Past the timeout it gets SIGTERM first, so the framework checkpoints and marks the run
    INTERRUPTED, and SIGKILL only if it has not left 60 s later."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=str(REPO), stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.write(f"\n[sweep] killed after the {timeout_s} s timeout\n")
            code = None
    return code, time.time() - start


def judge(spec: RunSpec, results_dir: Path, log_path: Path, code: int | None, seconds: float) -> Outcome:
    """The sacred record decides; without one (a config error, a kill during start-up) the exit code does."""
    runs = record_index(results_dir).get(spec.key, [])
    latest = runs[-1] if runs else None
    if latest is not None and latest.status == "COMPLETED":
        status = "COMPLETED"
    elif code is None:
        status = "TIMEOUT"
    elif latest is not None and latest.status != "RUNNING":
        status = latest.status
    else:
        status = "FAILED" if code != 0 else "UNKNOWN"
    text = tail(log_path)
    if latest is not None and status != "COMPLETED" and not text:
        text = tail(latest.run_dir / "cout.txt")
    return Outcome(spec.key, status, code, str(latest.run_dir) if latest else None, str(log_path), text, seconds)


def ray_init(config: SweepConfig) -> bool:
    """Starts (or joins) Ray unless the caller already did; True if this call started it."""
    import ray

    if ray.is_initialized():
        return False
    if config.address:
        ray.init(address=config.address)
    else:
        ray.init(num_cpus=config.num_cpus, num_gpus=config.num_gpus, include_dashboard=False)
    return True


def run_batch(specs: list[RunSpec], config: SweepConfig, attempt: int, logs: Path) -> list[Outcome]:
    import ray

    remote = ray.remote(execute).options(num_cpus=config.cpus_per_run, num_gpus=config.gpus_per_run, max_retries=0)
    results_dir = Path(config.results_dir).resolve()
    pending = {}
    for spec in specs:
        log_path = logs / f"{spec.key}.attempt{attempt}.log"
        ref = remote.remote(spec.command(config.python, results_dir, config.nice), str(log_path), config.timeout_s)
        pending[ref] = (spec, log_path)
    outcomes = []
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        spec, log_path = pending.pop(done[0])
        code, seconds = ray.get(done[0])
        outcome = judge(spec, results_dir, log_path, code, seconds)
        print(f"[sweep] {outcome.status:<11} {spec.key} ({seconds:.0f} s)", flush=True)
        outcomes.append(outcome)
    return outcomes


# ------------------------------------------------------------------- manifest
def manifest_path(config: SweepConfig) -> Path:
    return Path(config.results_dir) / "sweeps" / f"{config.sweep_name()}.json"


def write_manifest(config: SweepConfig, specs: list[RunSpec], entries: dict[str, dict]) -> Path:
    path = manifest_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    spec_dump = {k: v for k, v in asdict(config).items() if k != "python"}
    data = {"name": config.sweep_name(), "updated": time.strftime("%Y-%m-%dT%H:%M:%S"), "config": spec_dump,
            "counts": count_statuses(entries), "runs": [entries[s.key] for s in specs]}
    path.write_text(json.dumps(data, indent=2))
    return path


def count_statuses(entries: dict[str, dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in entries.values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return counts


def previous_entries(config: SweepConfig) -> dict[str, dict]:
    path = manifest_path(config)
    if not path.is_file():
        return {}
    return {e["key"]: e for e in json.loads(path.read_text()).get("runs", [])}


# ----------------------------------------------------------------------- sweep
def sweep(config: SweepConfig) -> dict[str, dict]:
    """Runs what is not COMPLETED yet (up to 1 + retries attempts) and returns the manifest entries."""
    specs = config.runs()
    check_overrides(config.overrides, specs[0].map_key if specs else "env_args.map_name")
    results_dir = Path(config.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    logs = results_dir / "sweeps" / config.sweep_name() / "logs"
    old = previous_entries(config)
    index = record_index(results_dir)
    entries: dict[str, dict] = {}
    todo = []
    for spec in specs:
        entry = {"key": spec.key, "alg": spec.alg, "env_config": spec.env_config, "map": spec.map, "seed": spec.seed,
                 "overrides": list(spec.overrides), "attempts": old.get(spec.key, {}).get("attempts", 0),
                 "command": spec.command(config.python, results_dir.resolve(), config.nice)}
        if is_completed(spec.key, index):
            done = next(r for r in index[spec.key] if r.status == "COMPLETED")
            entry.update(status="COMPLETED", run_dir=str(done.run_dir), action="skipped")
        else:
            entry.update(status="PENDING", run_dir=None, action="run")
            todo.append(spec)
        entries[spec.key] = entry
    print(f"[sweep] {config.sweep_name()}: {len(specs)} runs, {len(specs) - len(todo)} already completed, "
          f"{len(todo)} to run", flush=True)
    started = ray_init(config) if todo else False
    try:
        for attempt in range(1 + config.retries):
            if not todo:
                break
            for outcome in run_batch(todo, config, entries[todo[0].key]["attempts"] + 1, logs):
                entry = entries[outcome.key]
                entry.update(status=outcome.status, run_dir=outcome.run_dir, returncode=outcome.returncode,
                             log=outcome.log, tail=outcome.tail, seconds=round(outcome.seconds, 1))
                entry["attempts"] += 1
            todo = [s for s in todo if entries[s.key]["status"] != "COMPLETED"]
            write_manifest(config, specs, entries)
    finally:
        if started:
            import ray

            ray.shutdown()
    write_manifest(config, specs, entries)
    return entries


def report(entries: dict[str, dict], manifest: Path) -> int:
    """Prints the failures with their output tails; the exit code is 1 if any run is not COMPLETED."""
    failed = [e for e in entries.values() if e["status"] != "COMPLETED"]
    for entry in failed:
        print(f"\n[sweep] {entry['status']}: {entry['key']} (attempts: {entry['attempts']}, log: {entry.get('log')})")
        print("    " + "\n    ".join((entry.get("tail") or "(no output)").splitlines()))
    counts = count_statuses(entries)
    print(f"\n[sweep] {json.dumps(counts)}; manifest {manifest}")
    if failed:
        print("[sweep] re-run the same command to retry the failed runs (completed ones are skipped)")
    return 1 if failed else 0


# ------------------------------------------------------------------------- CLI
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="yaml with any of the options below (underscored); the command line wins")
    p.add_argument("--algs", nargs="+")
    p.add_argument("--env-config")
    p.add_argument("--maps", nargs="+")
    p.add_argument("--seeds", nargs="+", type=int, help="N (seeds 1..N) or an explicit list of seeds")
    p.add_argument("--with", dest="overrides", nargs="+", metavar="KEY=VALUE", help="overrides for every run")
    p.add_argument("--results-dir")
    p.add_argument("--name", help="manifest name (default: derived from the sweep's cells)")
    p.add_argument("--address", help="Ray cluster address, e.g. ray://head:10001 or auto")
    p.add_argument("--num-cpus", type=int, help="CPUs of a local Ray (default: all cores)")
    p.add_argument("--num-gpus", type=int, help="GPUs of a local Ray (default: all visible)")
    p.add_argument("--cpus-per-run", type=float)
    p.add_argument("--gpus-per-run", type=float)
    p.add_argument("--retries", type=int, help="extra attempts for failed runs within this invocation")
    p.add_argument("--timeout-s", type=float, help="per-run wall-clock limit")
    p.add_argument("--nice", type=int, help="run each training process under `nice -n N`")
    p.add_argument("--python", help="interpreter for the runs (default: this one)")
    p.add_argument("--map-key", help="config key of the map (default env_args.map_name; gymma: env_args.key)")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> SweepConfig:
    values: dict[str, Any] = {}
    if args.config:
        values.update(yaml.safe_load(Path(args.config).read_text()) or {})
        if "with" in values:
            values["overrides"] = values.pop("with")
    values.update({k: v for k, v in vars(args).items() if v is not None and k != "config"})
    if isinstance(values.get("overrides"), dict):
        values["overrides"] = [f"{k}={v}" for k, v in values["overrides"].items()]
    missing = [k for k in ("algs", "env_config", "maps", "seeds") if not values.get(k)]
    if missing:
        raise SystemExit(f"missing {', '.join('--' + m.replace('_', '-') for m in missing)}")
    values["seeds"] = seeds_from(values["seeds"])
    unknown = set(values) - set(SweepConfig.__dataclass_fields__)
    if unknown:
        raise SystemExit(f"unknown sweep option(s): {', '.join(sorted(unknown))}")
    return SweepConfig(**values)


def main(argv: list[str] | None = None) -> int:
    config = build_config(parse_args(argv))
    entries = sweep(config)
    return report(entries, manifest_path(config))


if __name__ == "__main__":
    raise SystemExit(main())

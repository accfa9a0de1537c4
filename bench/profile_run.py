"""Where a running MAZero training run spends its time: samples the run's learner process and its
reanalysis worker with py-spy (`pip install py-spy`; not a project dependency) and prints the share
of samples inside each named part of the loop.

    python bench/profile_run.py --pid <main.py pid> --seconds 60
    python bench/profile_run.py --stacks main.txt worker.txt        # summarise earlier recordings

A part's share counts every sample with that function anywhere on its stack (inclusive time), so
nested parts (the compiled forward inside the training step) are shares of the whole, not of
their parent. py-spy samples only threads that are running: the shares are of the process's busy
time, and the learner's wait for reanalysis targets is in none of them (runs log it as
`reanalyse_wait_s_total`). The worker is found among the run's child processes by its Ray actor name.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

# (label, the start of a py-spy frame "function (file:line)") per process, in print order
LEARNER_PARTS = [
    ("training step (MAZeroLearner.train)", "MAZeroLearner.train "),
    ("  unroll forward (compiled graph)", "MAZeroLearner._unroll "),
    ("  backward", "Tensor.backward "),
    ("  value targets (target model)", "MAZeroLearner._value_targets "),
    ("  optimiser step", "Adam.step "),
    ("self-play (runner collect)", "ParallelRunner._rollout "),
    ("  self-play search", "SampledMCTS.search "),
    ("test episodes and held-out diagnostics", "evaluate "),
    ("checkpoint", "checkpoint "),
]
WORKER_PARTS = [
    ("reanalysis search", "SampledMCTS.search "),
    ("  recurrent inference (dynamics, heads)", "MAZeroModel.recurrent_inference "),
    ("    communication transformer", "AgentCommunication.forward "),
    ("  expand (sample joint actions)", "SampledMCTS._expand "),
    ("  select", "SampledMCTS._select "),
]


def read_stacks(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw (collapsed) format: `frame;frame;... count` per line, outermost frame first."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks.append((stack.split(";"), int(count)))
    return stacks


def inclusive_shares(stacks: list[tuple[list[str], int]], parts: list[tuple[str, str]]) -> dict[str, float]:
    """label -> fraction of all samples whose stack holds a frame that starts with the part's pattern."""
    total = sum(count for _, count in stacks)
    if not total:
        raise ValueError("no samples")
    return {label: sum(count for frames, count in stacks if any(f.startswith(pattern) for f in frames)) / total
            for label, pattern in parts}


def reanalysis_worker(pid: int) -> psutil.Process | None:
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if "ReanalysisWorker" in child.name() or "ReanalysisWorker" in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def record(pid: int, seconds: int, out: Path) -> None:
    if shutil.which("py-spy") is None:
        sys.exit("py-spy is not installed: pip install py-spy")
    subprocess.run(["py-spy", "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "20",
                    "--format", "raw", "--nonblocking", "--output", str(out)],
                   check=True, capture_output=True)


def report(name: str, path: Path, parts: list[tuple[str, str]]) -> None:
    stacks = read_stacks(path)
    samples = sum(count for _, count in stacks)
    print(f"{name}: {samples} samples")
    for label, share in inclusive_shares(stacks, parts).items():
        print(f"  {share:6.1%}  {label}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pid", type=int, help="the run's src/main.py process")
    parser.add_argument("--seconds", type=int, default=60, help="how long to sample each process")
    parser.add_argument("--stacks", type=Path, nargs="+", help="summarise these raw recordings (learner, [worker])")
    args = parser.parse_args(argv)
    if args.stacks:
        report("learner process", args.stacks[0], LEARNER_PARTS)
        if len(args.stacks) > 1:
            report("reanalysis worker", args.stacks[1], WORKER_PARTS)
        return
    if args.pid is None:
        parser.error("--pid or --stacks is required")
    with tempfile.TemporaryDirectory() as tmp:
        learner = Path(tmp) / "learner.txt"
        record(args.pid, args.seconds, learner)
        report("learner process", learner, LEARNER_PARTS)
        worker = reanalysis_worker(args.pid)
        if worker is None:
            print("no reanalysis worker among the run's processes (reanalyse_workers=0?)")
            return
        worker_stacks = Path(tmp) / "worker.txt"
        record(worker.pid, args.seconds, worker_stacks)
        report("reanalysis worker", worker_stacks, WORKER_PARTS)


if __name__ == "__main__":
    main()

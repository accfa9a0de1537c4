"""Samples a training run's cost while it runs: wall-clock, process CPU of the run and of every
process it started (Ray's workers and daemons included), and the run's env steps, read from its
sacred `cout.txt`/log. One CSV row per sample; `--summary` turns the rows into costs per 1,000
env steps over a window of env steps.

    python bench/run_cost_monitor.py --pid <main.py pid> --log run.log --out cost.csv
    python bench/run_cost_monitor.py --summary cost.csv --from-step 10000 --to-step 12000
"""
from __future__ import annotations

import argparse
import csv
import fcntl
import re
import time
from pathlib import Path

import psutil

STEP = re.compile(r"t_env ([\d,]+)/")


def last_step(log: Path) -> int | None:
    steps = STEP.findall(log.read_text(errors="replace")[-20000:]) if log.exists() else []
    return int(steps[-1].replace(",", "")) if steps else None


def cpu_seconds(root: psutil.Process) -> tuple[float, float]:
    """(CPU of the run's own process, CPU of it and all its descendants)."""
    own = sum(root.cpu_times()[:2])
    total = own
    for child in root.children(recursive=True):
        try:
            times = child.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return own, total


def monitor(pid: int, log: Path, out: Path, every: float) -> None:
    """Samples until the run ends. The CSV is locked while it is written: a second monitor started on
    the same file stops at once instead of truncating it and interleaving its rows."""
    root = psutil.Process(pid)
    start = time.time()
    with out.open("a", newline="") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"another monitor is writing {out}; give this one another --out") from None
        f.truncate(0)
        writer = csv.writer(f)
        writer.writerow(["wall_s", "t_env", "main_cpu_s", "all_cpu_s"])
        while root.is_running() and root.status() != psutil.STATUS_ZOMBIE:
            try:
                own, total = cpu_seconds(root)
            except psutil.NoSuchProcess:
                break
            writer.writerow([f"{time.time() - start:.1f}", last_step(log), f"{own:.1f}", f"{total:.1f}"])
            f.flush()
            time.sleep(every)


def summary(path: Path, lo: int, hi: int) -> None:
    rows = [r for r in csv.DictReader(path.open()) if r["t_env"] not in ("", "None")]
    # the log's step count moves in jumps: keep the first sample of each, when that step was reached
    first = [r for i, r in enumerate(rows) if i == 0 or r["t_env"] != rows[i - 1]["t_env"]]
    inside = [r for r in first if lo <= int(r["t_env"]) <= hi]
    if len(inside) < 2:
        raise SystemExit(f"fewer than two samples between env steps {lo} and {hi}")
    a, b = inside[0], inside[-1]
    steps = int(b["t_env"]) - int(a["t_env"])
    per_k = lambda key: 1000 * (float(b[key]) - float(a[key])) / steps  # noqa: E731
    print(f"env steps {a['t_env']} -> {b['t_env']} ({steps}): per 1,000 env steps "
          f"wall {per_k('wall_s'):.1f} s, CPU of the learner process {per_k('main_cpu_s'):.1f} s, "
          f"CPU of all its processes {per_k('all_cpu_s'):.1f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pid", type=int)
    p.add_argument("--log", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--every", type=float, default=20.0)
    p.add_argument("--summary", type=Path)
    p.add_argument("--from-step", type=int, default=0)
    p.add_argument("--to-step", type=int, default=10**12)
    a = p.parse_args()
    if a.summary:
        summary(a.summary, a.from_step, a.to_step)
    else:
        monitor(a.pid, a.log, a.out, a.every)


if __name__ == "__main__":
    main()

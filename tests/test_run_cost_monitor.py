"""bench/run_cost_monitor.py on a real process: its samples, and a second monitor refused on the
same CSV (two monitors once truncated and interleaved one file)."""
import csv
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "run_cost_monitor.py"


def test_samples_a_run_and_refuses_a_second_monitor_on_its_csv(tmp_path):
    log, out = tmp_path / "run.log", tmp_path / "cost.csv"
    log.write_text("[INFO] mazero t_env 1,234/10,000 (12%)\n")
    run = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 3: pass"])
    first = subprocess.Popen([sys.executable, str(SCRIPT), "--pid", str(run.pid), "--log", str(log), "--out", str(out),
                              "--every", "0.2"])
    try:
        deadline = time.time() + 20
        while time.time() < deadline and (not out.exists() or out.read_text().count("\n") < 2):
            time.sleep(0.1)
        second = subprocess.run([sys.executable, str(SCRIPT), "--pid", str(run.pid), "--log", str(log), "--out",
                                 str(out)], capture_output=True, text=True, timeout=60)
        assert second.returncode != 0 and "another monitor is writing" in second.stderr
        run.wait(timeout=30)
        assert first.wait(timeout=30) == 0
    finally:
        run.kill()
        first.kill()
    rows = list(csv.DictReader(out.open()))
    assert len(rows) >= 2 and {r["t_env"] for r in rows} == {"1234"}
    cpu = [float(r["main_cpu_s"]) for r in rows]
    assert cpu == sorted(cpu) and cpu[-1] > cpu[0]  # the busy loop's CPU grows sample by sample

"""`experiments/matrix_games.sh` started again skips the runs whose COMPLETED record is already in
their results dir (here: the committed records of the matgame2 ablations, so nothing trains)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "experiments" / "matrix_games.sh"
ABLATIONS = ("mazero_no_oslambda", "mazero_bc", "mazero_sampled_muzero")


def test_a_second_start_skips_the_completed_runs(tmp_path):
    shutil.copytree(REPO / "docs" / "runs" / "matrix" / "ablations", tmp_path / "ablations")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    done = subprocess.run(["bash", str(SCRIPT), str(tmp_path), "ablations"], capture_output=True, text=True,
                          timeout=300, env={**os.environ,
                                            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert [line for line in done.stdout.splitlines() if line] == \
        [f"{alg} matgame2 seed 1: completed, skipped" for alg in ABLATIONS]
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert [p for p in after if "logs" not in p.parts] == before   # no run started: no new sacred record

"""`experiments/smax_study.sh`: trains, resumes an unfinished run from its newest checkpoint when
called again with the same arguments, and evaluates every requested step once, from the start that
saved it (a real QMIX run on SMAX 3m, a few hundred steps)."""
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "experiments" / "smax_study.sh"
TINY = ["batch_size=4", "hidden_dim=16", "test_nepisode=2", "test_interval=1000", "batch_size_run=1"]


def study(results: Path, t_max: int, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(results), "3m", str(t_max), "100", "qmix", "2", *TINY],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "STUDY_EVAL_EPISODES": "2", **env,
                               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})  # its `python`


def test_a_second_call_resumes_the_run_and_evaluates_across_its_starts(tmp_path):
    results = tmp_path / "study"
    log = results / "logs" / "qmix_3m_seed2.log"
    done = study(results, 100, STUDY_EVAL_STEPS="100")
    assert done.returncode == 0, log.read_text()[-3000:]
    (first,) = sorted((results / "models").iterdir())

    done = study(results, 250, STUDY_EVAL_STEPS="100 250")  # the same run, longer
    assert done.returncode == 0, log.read_text()[-3000:]
    first_dir, second_dir = sorted((results / "models").iterdir())
    assert first_dir == first and "resuming from" in log.read_text()
    table = pd.read_csv(results / "eval" / "qmix_3m_seed2.csv")
    steps = table["step"].tolist()
    assert len(steps) == 2 and 100 <= steps[0] < 250 <= steps[1]
    assert (table["episodes"] == 2).all()
    assert log.read_text().count("qmix 3m step") == 2  # the 100-step cell was evaluated once, not again

    # evaluation only: trains nothing, and a cell no checkpoint reaches (1,000) is skipped, not
    # filled from the newest checkpoint
    done = study(results, 250, STUDY_EVAL_STEPS="100 250 1000", STUDY_EVAL_ONLY="1")
    assert done.returncode == 0, log.read_text()[-3000:]
    assert len(list((results / "models").iterdir())) == 2
    assert pd.read_csv(results / "eval" / "qmix_3m_seed2.csv")["step"].tolist() == steps
    assert "nothing new to evaluate" in log.read_text()

    runs_before = sorted((results / "models").iterdir())
    # finished: evaluates again under a sweep variant's label, trains nothing
    done = study(results, 250, STUDY_EVAL_STEPS="250", STUDY_LABEL="qmix+variant")
    assert done.returncode == 0, log.read_text()[-3000:]
    assert sorted((results / "models").iterdir()) == runs_before
    assert "trained to" in log.read_text()
    assert pd.read_csv(results / "eval" / "qmix+variant_3m_seed2.csv")["step"].tolist() == [steps[1]]

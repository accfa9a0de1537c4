"""bench/profile_run.py's arithmetic: inclusive shares of py-spy's collapsed stacks."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from profile_run import inclusive_shares, read_stacks  # noqa: E402


def test_a_part_counts_every_sample_with_its_frame_anywhere_on_the_stack(tmp_path):
    raw = tmp_path / "stacks.txt"
    raw.write_text(
        "main (main.py:1);train (run.py:9);MAZeroLearner.train (mazero_learner.py:99);MAZeroLearner._unroll (m.py:1) 6\n"
        "main (main.py:1);train (run.py:9);MAZeroLearner.train (mazero_learner.py:99);Tensor.backward (t.py:2) 3\n"
        "main (main.py:1);collect (run.py:5);ParallelRunner._rollout (p.py:7) 1\n"
    )
    stacks = read_stacks(raw)
    assert [count for _, count in stacks] == [6, 3, 1]
    shares = inclusive_shares(stacks, [("train", "MAZeroLearner.train "), ("unroll", "MAZeroLearner._unroll "),
                                       ("rollout", "ParallelRunner._rollout "), ("absent", "checkpoint ")])
    assert shares == pytest.approx({"train": 0.9, "unroll": 0.6, "rollout": 0.1, "absent": 0.0})
    # a frame is matched by its start: `_unroll` does not count for a pattern naming `unroll`
    assert inclusive_shares(stacks, [("x", "unroll ")]) == {"x": 0.0}
    with pytest.raises(ValueError, match="no samples"):
        inclusive_shares([], [("x", "y")])

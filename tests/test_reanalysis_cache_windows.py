"""bench/reanalysis_cache_windows.py: per-window hit rate, searches and wait from the logged running totals."""
import importlib.util
import sys
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "reanalysis_cache_windows", Path(__file__).parents[1] / "bench" / "reanalysis_cache_windows.py")
cache_windows = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = cache_windows  # dataclasses look their module up there
spec.loader.exec_module(cache_windows)


def totals(steps, values):
    return {"steps": steps, "values": values}


def test_windows_are_differences_of_the_running_totals():
    metrics = {
        "reanalyse_positions_total": totals([0, 2000, 4000, 5000], [0, 1000, 3000, 3000]),
        "reanalyse_cached_total": totals([0, 2000, 4000, 5000], [0, 900, 2400, 2400]),
        # logged at one step the others were not: that step is left out
        "reanalyse_wait_s_total": totals([0, 1000, 2000, 4000, 5000], [0, 0.5, 1.0, 7.0, 7.0]),
    }
    got = cache_windows.windows(metrics)
    # 0-2k: 1000 drawn, 900 cached -> hit 0.9, 100 searched over 2k steps = 50 per 1k, 1.0 s / 2 = 0.5 s per 1k
    # 2k-4k: 2000 drawn, 1500 cached -> 0.75, 500 / 2 = 250 per 1k, 6.0 s / 2 = 3.0 s per 1k; 4k-5k drew nothing
    assert [(w.start, w.end) for w in got] == [(0, 2000), (2000, 4000)]
    assert [w.hit_rate for w in got] == pytest.approx([0.9, 0.75])
    assert [w.searched_per_k for w in got] == pytest.approx([50.0, 250.0])
    assert [w.wait_s_per_k for w in got] == pytest.approx([0.5, 3.0])


def test_a_span_is_one_window_from_its_first_to_its_last_logged_step():
    steps = [0, 1000, 2000, 3000, 4000]
    metrics = {"reanalyse_positions_total": totals(steps, [0, 100, 300, 600, 1000]),
               "reanalyse_cached_total": totals(steps, [0, 90, 240, 420, 660]),
               "reanalyse_wait_s_total": totals(steps, [0, 1.0, 2.0, 4.0, 8.0])}
    (w,) = cache_windows.windows(metrics, span=(500, 3500))  # logged steps 1000 and 3000
    # 1k-3k: 500 drawn, 330 cached -> 0.66; 170 searched over 2k steps = 85 per 1k; 3.0 s / 2 = 1.5 s per 1k
    assert (w.start, w.end) == (1000, 3000)
    assert (w.hit_rate, w.searched_per_k, w.wait_s_per_k) == pytest.approx((0.66, 85.0, 1.5))
    with pytest.raises(ValueError, match="fewer than two"):
        cache_windows.windows(metrics, span=(1500, 2500))


def test_wall_clock_and_the_learners_own_searches_when_logged():
    """wall_time is logged at other steps than the totals: it is interpolated at the window's ends,
    and a window that reaches outside its logged steps has no wall-clock (not a clamped one)."""
    steps = [0, 1000, 3000]
    metrics = {"reanalyse_positions_total": totals(steps, [0, 100, 300]),
               "reanalyse_cached_total": totals(steps, [0, 50, 100]),
               "reanalyse_wait_s_total": totals(steps, [0, 1.0, 2.0]),
               "reanalyse_local_s_total": totals(steps, [0, 4.0, 10.0]),
               "wall_time": totals([500, 1500, 3500], [50.0, 250.0, 450.0])}
    first, second = cache_windows.windows(metrics)
    # 0 is before wall_time's first step (500): unknown; at 1000: 150, at 3000: 400 (between 250 at 1.5k and 450 at 3.5k)
    assert first.wall_s_per_k is None and second.wall_s_per_k == pytest.approx(125.0)
    assert (first.local_s_per_k, second.local_s_per_k) == pytest.approx((4.0, 3.0))
    del metrics["wall_time"], metrics["reanalyse_local_s_total"]
    assert {(w.wall_s_per_k, w.local_s_per_k) for w in cache_windows.windows(metrics)} == {(None, None)}


def test_a_run_without_the_cache_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="reanalyse_cache=True"):
        cache_windows.windows({"reanalyse_positions_total": totals([0], [0])})

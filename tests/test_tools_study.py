"""tools.study: checkpoints to the nearest step, mean and Student-t interval over seeds."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tools.study import (cells, figure, forest, load_evaluations, main, markdown_table, paired_differences, seeds_label,
                         step_label)


def write(folder, name, rows):
    (folder / "eval").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "eval" / name, index=False)


def test_cells_are_seed_means_with_t_intervals_at_the_nearest_checkpoint(tmp_path):
    wins = {1: 0.50, 2: 0.60, 3: 0.85}
    for seed, win in wins.items():
        write(tmp_path, f"qmix_tuned_3m_seed{seed}.csv", [
            {"step": 25_007, "episodes": 1024, "test_battle_won_mean": win},
            {"step": 37_600, "episodes": 1024, "test_battle_won_mean": 0.0},    # no requested step near it
            {"step": 51_500, "episodes": 1024, "test_battle_won_mean": win / 2},
        ])
    write(tmp_path, "mazero_3m_seed1.csv", [
        {"step": 26_000, "episodes": 1024, "test_battle_won_mean": 0.7, "test_prior_battle_won_mean": 0.6}])
    evaluations = load_evaluations(tmp_path)
    summary = cells(evaluations, [25_000, 50_000])
    q25 = summary[(summary.alg == "qmix_tuned") & (summary.step == 25_000)].iloc[0]
    values = np.array(list(wins.values()))
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
    assert q25.n == 3 and q25["mean"] == pytest.approx(values.mean())
    assert (q25.low, q25.high) == pytest.approx((values.mean() - half, values.mean() + half))
    q50 = summary[(summary.alg == "qmix_tuned") & (summary.step == 50_000)].iloc[0]
    assert q50["mean"] == pytest.approx(values.mean() / 2)
    prior = summary[summary.alg == "mazero (prior)"].iloc[0]
    assert prior["mean"] == pytest.approx(0.6) and prior.n == 1
    table = markdown_table(summary, [25_000, 50_000], ["mazero", "mazero (prior)", "qmix_tuned"])
    assert "| `mazero` | 0.700 (n=1) | - |" in table
    assert f"{values.mean():.3f} [{values.mean() - half:.2f}, {values.mean() + half:.2f}] (n=3)" in table


def test_a_badly_named_file_is_refused(tmp_path):
    write(tmp_path, "results.csv", [{"step": 1, "episodes": 1, "test_battle_won_mean": 0.0}])
    with pytest.raises(ValueError, match="seed<N>"):
        load_evaluations(tmp_path)


def test_the_figure_draws_the_ordered_algorithms_with_their_seed_counts(tmp_path):
    for seed in (1, 2, 3):
        rows = [{"step": 25_000, "episodes": 1024, "test_battle_won_mean": 0.2 * seed}]
        if seed < 3:  # the third seed has not reached 50k
            rows.append({"step": 50_000, "episodes": 1024, "test_battle_won_mean": 0.3 * seed})
        write(tmp_path, f"mazero_3m_seed{seed}.csv", rows)
        write(tmp_path, f"qmix_tuned_3m_seed{seed}.csv", [{"step": 25_000, "episodes": 1024, "test_battle_won_mean": 0.1}])
    summary = cells(load_evaluations(tmp_path), [25_000, 50_000])
    fig = figure(summary, "t", ["qmix_tuned", "mazero"])
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["qmix_tuned (n=3)", "mazero (n=2-3)"]
    assert len(fig.axes[0].collections) == 1  # only qmix_tuned's cells all have 3 seeds: one shaded interval
    many = [f"variant{i}" for i in range(30)]
    tall = figure(pd.concat([summary.assign(alg=name) for name in many]), "t", many)
    assert tall.get_figheight() >= 0.2 * 30  # room for a legend of 30 entries
    assert seeds_label(pd.Series([4, 4])) == "n=4"


def test_variants_whose_hashed_colours_collide_get_different_colours(tmp_path):
    """Two variants that hash to the same extra colour get different ones in a figure; a variant
    and its prior curve keep one colour between them."""
    from tools.plots import EXTRA_COLOURS, colour

    first_of = {}
    for i in range(len(EXTRA_COLOURS) + 1):  # pigeonhole: some two of these names share a hash colour
        name = f"mazero+variant{i}"
        if colour(name) in first_of:
            a, b = first_of[colour(name)], name
            break
        first_of[colour(name)] = name
    assert colour(a) == colour(b) and colour(a) in EXTRA_COLOURS
    for seed in (1, 2):
        for alg in (a, b):
            write(tmp_path, f"{alg}_3m_seed{seed}.csv", [
                {"step": 25_000, "episodes": 1024, "test_battle_won_mean": 0.5, "test_prior_battle_won_mean": 0.4}])
    summary = cells(load_evaluations(tmp_path), [25_000])
    fig = figure(summary, "t", [a, f"{a} (prior)", b, f"{b} (prior)", "mazero"])
    colours = {line.get_label().split(" (n=")[0]: line.get_color() for line in fig.axes[0].get_lines()}
    assert colours[a] == colours[f"{a} (prior)"] and colours[b] == colours[f"{b} (prior)"]
    assert colours[a] != colours[b]


def test_extra_colours_are_distinct_and_none_is_a_palette_colour():
    from tools.plots import EXTRA_COLOURS, PALETTE, distinct_colours

    assert len(set(EXTRA_COLOURS)) == len(EXTRA_COLOURS)
    assert not set(EXTRA_COLOURS) & set(PALETTE.values())
    names = [f"mazero+variant{i}" for i in range(len(EXTRA_COLOURS))] + ["mazero", "qmix_tuned"]
    chosen = distinct_colours(names)
    assert len(set(chosen.values())) == len(names)  # every curve its own colour while extras last


def test_the_forest_figure_draws_each_seed_mean_and_interval_over_the_reference_band(tmp_path):
    """Per step a panel; per algorithm (prior rows left out) a row, the first on top, holding every
    seed's win rate, the mean, and the t interval where there are seeds to make one; the band is the
    reference's interval at that step."""
    for seed, win in {1: 0.6, 2: 0.7, 3: 0.8}.items():
        write(tmp_path, f"mazero_3m_seed{seed}.csv", [
            {"step": 25_000, "episodes": 1024, "test_battle_won_mean": win, "test_prior_battle_won_mean": 0.1},
            {"step": 50_000, "episodes": 1024, "test_battle_won_mean": win + 0.1}])
    write(tmp_path, "mazero+lr1e-3_3m_seed1.csv", [{"step": 25_000, "episodes": 1024, "test_battle_won_mean": 0.3}])
    summary = cells(load_evaluations(tmp_path), [25_000, 50_000])
    order = ["mazero", "mazero (prior)", "mazero+lr1e-3"]
    fig = forest(summary, [25_000, 50_000], order, reference="mazero")
    assert [ax.get_title() for ax in fig.axes] == ["25k env steps", "50k env steps"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["mazero", "mazero+lr1e-3"]  # bottom up
    ticks = dict(zip([t.get_text() for t in fig.axes[0].get_yticklabels()], fig.axes[0].get_yticks()))
    assert ticks["mazero"] > ticks["mazero+lr1e-3"]

    def points(ax, y):  # the x values drawn on row y, less the reference's dashed mean line
        return sorted(round(float(x), 6) for line in ax.get_lines() if line.get_linestyle() != "--"
                      for x, yy in zip(*line.get_data()) if yy == y)

    half = stats.t.ppf(0.975, 2) * np.std([0.6, 0.7, 0.8], ddof=1) / np.sqrt(3)
    at25 = points(fig.axes[0], ticks["mazero"])  # three seeds, the interval's two ends, the mean
    assert at25 == pytest.approx(sorted([0.6, 0.7, 0.8, 0.7 - half, 0.7 + half, 0.7]))
    assert points(fig.axes[0], ticks["mazero+lr1e-3"]) == pytest.approx([0.3, 0.3])  # one seed: no interval
    assert points(fig.axes[1], ticks["mazero+lr1e-3"]) == []  # no 50k checkpoint
    band = fig.axes[1].patches[0]  # axvspan: the reference's interval at 50k
    assert (band.get_x(), band.get_x() + band.get_width()) == pytest.approx((0.8 - half, 0.8 + half))
    with pytest.raises(ValueError, match="reference 'qmix_tuned'"):
        forest(summary, [25_000], order, reference="qmix_tuned")


def test_the_forest_figure_is_written_by_the_command_line(tmp_path, capsys):
    write(tmp_path, "mazero_3m_seed1.csv", [{"step": 25_000, "episodes": 1024, "test_battle_won_mean": 0.5}])
    main([str(tmp_path), "--steps", "25000", "50000", "--order", "mazero",
          "--forest", str(tmp_path / "forest"), "--forest-steps", "25000"])
    assert (tmp_path / "forest.png").stat().st_size > 0 and (tmp_path / "forest.pdf").exists()
    assert "wrote " + str(tmp_path / "forest.png") in capsys.readouterr().out
    with pytest.raises(SystemExit):  # a panel of a step the table does not compute
        main([str(tmp_path), "--steps", "25000", "--forest", str(tmp_path / "f"), "--forest-steps", "50000"])
    assert "are not among --steps" in capsys.readouterr().err


def test_paired_differences_are_per_seed_differences_over_the_common_seeds(tmp_path, capsys):
    base = {1: 0.80, 2: 0.82, 3: 0.76}
    other = {1: 0.77, 2: 0.80, 4: 0.90}       # seed 4 has no base, seed 3 no other: neither pairs
    for seed, win in base.items():
        write(tmp_path, f"mazero_3m_seed{seed}.csv", [{"step": 50_100, "episodes": 1024, "test_battle_won_mean": win}])
    for seed, win in other.items():
        write(tmp_path, f"mazero+tau_3m_seed{seed}.csv", [{"step": 50_100, "episodes": 1024, "test_battle_won_mean": win}])
    pairs = paired_differences(load_evaluations(tmp_path), [50_000], "mazero", "mazero+tau")
    diff = np.array([0.77 - 0.80, 0.80 - 0.82])
    half = stats.t.ppf(0.975, 1) * diff.std(ddof=1) / np.sqrt(2)
    row = pairs.iloc[0]
    assert row.n == 2 and row.seeds == (1, 2) and row["mean"] == pytest.approx(diff.mean())
    assert (row.low, row.high) == pytest.approx((diff.mean() - half, diff.mean() + half))
    assert (row.base, row.other) == pytest.approx((0.81, 0.785))
    main([str(tmp_path), "--steps", "50000", "--paired", "mazero", "mazero+tau"])
    assert f"| 50k | 1, 2 | 0.810 | 0.785 | {diff.mean():+.3f} [{diff.mean() - half:+.3f}, {diff.mean() + half:+.3f}] |" \
        in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no evaluations of mazero\\+typo"):
        main([str(tmp_path), "--steps", "50000", "--paired", "mazero", "mazero+typo"])


def test_the_per_seed_table_gives_each_seed_its_nearest_checkpoint_and_its_value(tmp_path, capsys):
    write(tmp_path, "mazero_3m_seed2.csv", [
        {"step": 24_000, "episodes": 1024, "test_battle_won_mean": 0.10, "test_prior_battle_won_mean": 0.20},
        {"step": 25_300, "episodes": 1024, "test_battle_won_mean": 0.40, "test_prior_battle_won_mean": 0.50},  # nearer
        {"step": 60_000, "episodes": 1024, "test_battle_won_mean": 0.90, "test_prior_battle_won_mean": 0.95}])  # > 10% off
    write(tmp_path, "mazero_3m_seed1.csv", [
        {"step": 50_100, "episodes": 1024, "test_battle_won_mean": 0.75, "test_prior_battle_won_mean": 0.70}])
    main([str(tmp_path), "--steps", "25000", "50000", "--per-seed", "--order", "mazero (prior)", "mazero"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert lines == ["| `mazero (prior)` | 1 | - | 0.700 (50,100) |",
                     "| `mazero (prior)` | 2 | 0.500 (25,300) | - |",
                     "| `mazero` | 1 | - | 0.750 (50,100) |",
                     "| `mazero` | 2 | 0.400 (25,300) | - |"]
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--steps", "25000", "--per-seed", "--paired", "mazero", "mazero (prior)"])
    with pytest.raises(SystemExit, match="no evaluations of mazero\\+typo"):
        main([str(tmp_path), "--steps", "25000", "--per-seed", "--order", "mazero", "mazero+typo"])


@pytest.mark.parametrize("step, label", [(12_500, "12.5k"), (25_000, "25k"), (100_000, "100k"), (500_000, "500k"),
                                         (1_000_000, "1M"), (1_500_000, "1.5M"), (10_000_000, "10M")])
def test_step_labels_switch_to_millions_at_one_million(step, label):
    assert step_label(step) == label

"""The update cadence."""
from utils.cadence import updates_due


def test_per_rollout_cadence_is_fixed():
    assert updates_due(t_env=500, updates_done=10, updates_per_rollout=2, updates_per_env_step=None) == 2


def test_per_env_step_cadence_tracks_the_ratio_over_uneven_rollouts():
    done, total_steps = 0, 0
    for steps in [60, 37, 1, 120, 45]:
        total_steps += steps
        n = updates_due(total_steps, done, updates_per_rollout=1, updates_per_env_step=0.5)
        done += n
        assert done == int(0.5 * total_steps)


def test_per_env_step_cadence_never_negative():
    assert updates_due(t_env=10, updates_done=100, updates_per_rollout=1, updates_per_env_step=0.5) == 0

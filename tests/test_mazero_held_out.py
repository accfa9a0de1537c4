"""MAZero's held-out diagnostics (the model's value and reward errors on test episodes) against
a position-by-position reference, and the windows they are computed on."""
import numpy as np
import pytest
import torch

from components.transition_replay import PrioritizedTransitionReplay, episode_windows
from modules.mazero.inputs import frame_window

from test_reanalysis import make_learner
from test_mazero_learner import config, episode_batch

LENGTHS = [4, 7]


def test_episode_windows_are_the_replays_windows_at_every_step():
    args = config()
    batch, scheme, groups, preprocess = episode_batch(LENGTHS)
    replay = PrioritizedTransitionReplay(scheme, groups, args, preprocess)
    replay.insert_episode_batch(batch)
    rows = np.repeat([0, 1], LENGTHS)
    starts = np.concatenate([np.arange(n) for n in LENGTHS])
    expected = replay._windows(rows, starts, replay.first_ids[rows] + starts, np.ones(len(rows)))
    got = episode_windows(batch, args)
    for name in ("obs", "avail_actions", "actions", "rewards", "steps_left", "truncated", "weights"):
        assert torch.equal(getattr(got, name), getattr(expected, name)), name


def reference_errors(learner, batch):
    """Each step t of each episode on its own: z_t = sum_{j<n} gamma^j u_{t+j} + gamma^n v'(o_{t+n})
    (nothing past the terminal step), v(o_t), and the rewards of the model stepped along a_t, a_{t+1}, ..."""
    args = learner.args
    K, n, F, gamma = args.unroll_steps, args.td_steps, args.stacked_observations, args.gamma
    obs, avail = batch["obs"].float(), batch["avail_actions"]
    value_err, z_abs, reward_err, first_err = [], [], [], []
    for i, T in enumerate(LENGTHS):
        rewards, actions = batch["reward"][i, :, 0], batch["actions"][i, :, :, 0]

        def inputs(t):
            x, _, mask = learner.inputs(frame_window(obs[i : i + 1, : T + 1], t, F), avail[i : i + 1, t])
            return x, mask

        for t in range(T):
            z = sum(gamma**j * float(rewards[t + j]) for j in range(n) if t + j < T)
            if t + n < T:
                z += gamma**n * float(learner.target_model.initial_inference(*inputs(t + n)).value)
            x, mask = inputs(t)
            root = learner.model.initial_inference(x, mask)
            value_err.append(abs(float(root.value) - z))
            z_abs.append(abs(z))
            latent = root.latent
            for k in range(min(K, T - t)):
                step = learner.model.recurrent_inference(latent, actions[t + k][None], inputs(t + k)[1])
                reward_err.append(abs(float(step.reward) - float(rewards[t + k])))
                if k == 0:
                    first_err.append(reward_err[-1])
                latent = step.latent
    return {"model_value_error": np.mean(value_err), "model_value_target_abs": np.mean(z_abs),
            "model_reward_error": np.mean(reward_err), "model_reward_error_1step": np.mean(first_err)}


def test_held_out_errors_match_a_step_by_step_reference():
    learner, replay = make_learner()
    for _ in range(3):  # trained a little, so the model and its target differ and predict something
        learner.train(replay.sample(8), 100, 3)
    batch, *_ = episode_batch(LENGTHS)
    got = learner.held_out_stats([batch])
    assert learner.model.training  # left in the mode it was in
    with torch.no_grad():
        learner.model.eval()
        expected = reference_errors(learner, batch)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
    assert got["model_value_target_abs"] > 1.0  # rewards 1..7: the check is not of zeros

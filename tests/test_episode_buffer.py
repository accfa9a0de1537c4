"""EpisodeBatch and the replay stores."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.replay import EpisodeReplay, OnPolicyReplay
from components.transforms import OneHot

N_AGENTS, N_ACTIONS, OBS, STATE, LIMIT = 3, 4, 5, 6, 7


def scheme():
    return {
        "state": {"vshape": STATE},
        "obs": {"vshape": OBS, "group": "agents"},
        "actions": {"vshape": (1,), "group": "agents", "dtype": torch.long},
        "avail_actions": {"vshape": (N_ACTIONS,), "group": "agents", "dtype": torch.int},
        "reward": {"vshape": (1,)},
        "terminated": {"vshape": (1,), "dtype": torch.uint8},
        "map_id": {"vshape": (1,), "episode_const": True},
    }


GROUPS = {"agents": N_AGENTS}
PREPROCESS = {"actions": ("actions_onehot", [OneHot(N_ACTIONS)])}


def new_batch(batch_size=2):
    return EpisodeBatch(scheme(), GROUPS, batch_size, LIMIT + 1, preprocess=PREPROCESS)


def fill_episode(batch, row, length, offset=0.0):
    for t in range(length + 1):
        batch.update({"obs": np.full((N_AGENTS, OBS), offset + t, np.float32),
                      "state": np.full(STATE, offset + t, np.float32),
                      "avail_actions": np.ones((N_AGENTS, N_ACTIONS))}, bs=[row], ts=t)
        if t < length:
            batch.update({"actions": np.array([[t % N_ACTIONS]] * N_AGENTS), "reward": [offset + t],
                          "terminated": [int(t == length - 1)]}, bs=[row], ts=t, mark_filled=False)


def test_shapes_groups_and_episode_constants():
    batch = new_batch()
    assert batch["obs"].shape == (2, LIMIT + 1, N_AGENTS, OBS)
    assert batch["actions_onehot"].shape == (2, LIMIT + 1, N_AGENTS, N_ACTIONS)
    assert batch["map_id"].shape == (2, 1)
    assert batch["filled"].dtype == torch.long


def test_update_marks_filled_and_one_hot_follows_actions():
    batch = new_batch()
    fill_episode(batch, 0, length=3)
    assert batch["filled"][0, :, 0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert batch["filled"][1].sum() == 0
    onehot = batch["actions_onehot"][0, 2]
    assert torch.equal(onehot.argmax(-1), batch["actions"][0, 2, :, 0])
    assert torch.equal(onehot.sum(-1), torch.ones(N_AGENTS))
    assert batch.max_t_filled() == 4


def test_slicing_shares_storage_and_selects_rows_and_steps():
    batch = new_batch(batch_size=3)
    for row in range(3):
        fill_episode(batch, row, length=2 + row, offset=10 * row)
    sub = batch[[2, 0], :3]
    assert sub.batch_size == 2 and sub.max_seq_length == 3
    assert sub["state"][0, 1, 0].item() == 21.0 and sub["state"][1, 1, 0].item() == 1.0
    fields = batch[("obs", "reward")]
    assert set(fields.scheme) == {"obs", "reward", "filled"}


def test_unknown_key_and_reserved_key_fail_clearly():
    batch = new_batch()
    with pytest.raises(KeyError, match="not in the episode scheme"):
        batch.update({"obz": np.zeros((N_AGENTS, OBS))}, bs=[0], ts=0)
    with pytest.raises(ValueError, match="reserved"):
        EpisodeBatch({"filled": {"vshape": 1}}, GROUPS, 1, 2)


def replay_args(buffer_size):
    env_info = SimpleNamespace(episode_limit=LIMIT)
    return SimpleNamespace(buffer_cpu_only=True, device="cpu", buffer_size=buffer_size, env_info=env_info, seed=0)


def test_episode_replay_wraps_around_and_samples_without_replacement():
    replay = EpisodeReplay(scheme(), GROUPS, replay_args(4), PREPROCESS)
    for k in range(3):  # 6 episodes into a buffer of 4: the two oldest are overwritten
        batch = new_batch()
        fill_episode(batch, 0, 2, offset=100 * (2 * k))
        fill_episode(batch, 1, 3, offset=100 * (2 * k + 1))
        replay.insert_episode_batch(batch)
    assert replay.episodes_in_buffer == 4 and replay.can_sample(4) and not replay.can_sample(5)
    stored = sorted(int(v) for v in replay.storage["state"][:, 0, 0].tolist())
    assert stored == [200, 300, 400, 500]
    sample = replay.sample(4)
    assert sorted(int(v) for v in sample["state"][:, 0, 0].tolist()) == stored
    assert sample.max_seq_length == 4  # truncated to the longest filled episode


def replay_with_two_episodes(buffer_size):
    """An EpisodeReplay holding two episodes (2 and 3 steps; obs/state values t and 50 + t)."""
    replay = EpisodeReplay(scheme(), GROUPS, replay_args(buffer_size), PREPROCESS)
    batch = new_batch()
    fill_episode(batch, 0, 2)
    fill_episode(batch, 1, 3, offset=50)
    replay.insert_episode_batch(batch)
    return replay


def test_episode_replay_state_dict_round_trip_keeps_sampling_sequence():
    replay = replay_with_two_episodes(buffer_size=4)
    state = replay.state_dict()
    first = replay.sample(1)["state"][0, 0, 0].item()
    clone = EpisodeReplay(scheme(), GROUPS, replay_args(4), PREPROCESS)
    clone.load_state_dict(state)
    assert clone.sample(1)["state"][0, 0, 0].item() == first


def test_a_partly_filled_replay_saves_only_its_filled_rows_and_restores_them_exactly(tmp_path):
    """A checkpoint early in a run must not carry the whole preallocated buffer, and the restored
    buffer must equal the original, empty rows included (they are zeros either way)."""
    replay = replay_with_two_episodes(buffer_size=50)
    state = replay.state_dict()
    # two rows, and the steps of the longer episode (3 transitions and its final observation)
    assert all(v.shape[:2] == (2, 4) for v in state["storage"]["transition_data"].values())
    assert all(v.shape[0] == 2 for v in state["storage"]["episode_data"].values())
    torch.save(state, tmp_path / "part.pt")
    torch.save({"storage": {"transition_data": replay.storage.transition_data,  # the untrimmed buffer
                            "episode_data": replay.storage.episode_data}}, tmp_path / "full.pt")
    assert (tmp_path / "part.pt").stat().st_size * 10 < (tmp_path / "full.pt").stat().st_size

    clone = EpisodeReplay(scheme(), GROUPS, replay_args(50), PREPROCESS)
    clone.load_state_dict(torch.load(tmp_path / "part.pt", weights_only=False))
    for key, value in replay.storage.transition_data.items():
        assert torch.equal(clone.storage.transition_data[key], value), key
    for key, value in replay.storage.episode_data.items():
        assert torch.equal(clone.storage.episode_data[key], value), key
    batch = new_batch()  # the restored buffer goes on filling the rows after the saved ones
    fill_episode(batch, 0, 1, offset=900)
    fill_episode(batch, 1, 1, offset=950)
    clone.insert_episode_batch(batch)
    assert clone.storage["state"][:4, 0, 0].tolist() == [0.0, 50.0, 900.0, 950.0]


def test_a_full_replay_saves_its_buffer_as_it_is_and_a_misfit_state_is_refused():
    replay = replay_with_two_episodes(buffer_size=2)
    state = replay.state_dict()
    assert state["storage"]["transition_data"]["obs"] is replay.storage.transition_data["obs"]  # no copy
    small = EpisodeReplay(scheme(), GROUPS, replay_args(1), PREPROCESS)
    with pytest.raises(ValueError, match="does not fit a buffer"):
        small.load_state_dict(state)


def test_on_policy_replay_holds_only_the_latest_rollout():
    replay = OnPolicyReplay()
    assert not replay.can_sample(1)
    batch = new_batch()
    fill_episode(batch, 0, 2)
    fill_episode(batch, 1, 1)
    replay.insert_episode_batch(batch)
    assert replay.sample(2).max_seq_length == 3
    replay.after_update()
    assert not replay.can_sample(1)

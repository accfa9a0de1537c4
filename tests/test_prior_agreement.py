"""The counts behind `greedy_agreement` and `search_picks_greedy`, against per-agent loops."""
import numpy as np
import pytest
import torch

from search.prior_agreement import GreedyTally, agents_with_a_choice, greedy_actions, greedy_agreement


def random_roots(rng: np.random.Generator, roots: int, agents: int, actions: int):
    """Random logits (unavailable entries kept large, so masking matters), availability with some
    single-action and some action-less (padded) agents, and actions played among the legal ones."""
    logits = torch.tensor(rng.normal(size=(roots, agents, actions)) * 2, dtype=torch.float32)
    avail = torch.tensor(rng.random((roots, agents, actions)) < 0.6, dtype=torch.long)
    avail[:, 0] = 0
    avail[:, 0, 1] = 1                      # agent 0 has one legal action
    avail[::3, -1] = 0                      # every third root's last agent has none (padding)
    logits = logits.masked_fill(~avail.bool(), 10.0)
    chosen = torch.zeros(roots, agents, dtype=torch.long)
    for b in range(roots):
        for i in range(agents):
            legal = np.flatnonzero(avail[b, i].numpy())
            chosen[b, i] = int(rng.choice(legal)) if len(legal) else 0
    return chosen, logits, avail


def test_greedy_agreement_matches_a_per_agent_count():
    rng = np.random.default_rng(0)
    chosen, logits, avail = random_roots(rng, roots=60, agents=4, actions=5)
    # make the greedy joint action the played one at some roots, so `joint` takes both values
    for b in range(0, 60, 4):
        for i in range(4):
            legal = np.flatnonzero(avail[b, i].numpy())
            if len(legal):
                chosen[b, i] = int(legal[np.argmax(logits[b, i].numpy()[legal])])
    got = greedy_agreement(chosen, logits, avail)
    for b in range(60):
        agreeing = choosing = 0
        joint = True
        for i in range(4):
            legal = np.flatnonzero(avail[b, i].numpy())
            if len(legal) < 2:
                continue
            choosing += 1
            best = int(legal[np.argmax(logits[b, i].numpy()[legal])])
            agreeing += int(chosen[b, i] == best)
            joint &= bool(chosen[b, i] == best)
        assert (int(got.agreeing[b]), int(got.choosing[b]), bool(got.joint[b])) == (agreeing, choosing, joint), b
    assert got.joint.any() and not got.joint.all()


def test_greedy_actions_ignore_unavailable_logits_and_agents_without_a_choice_are_marked():
    logits = torch.tensor([[[0.0, 9.0, 1.0], [3.0, 2.0, 1.0]]])
    avail = torch.tensor([[[1, 0, 1], [0, 1, 0]]])
    assert greedy_actions(logits, avail).tolist() == [[2, 1]]
    assert agents_with_a_choice(avail).tolist() == [[True, False]]


def test_tally_sums_decisions_per_episode_row():
    """Three episode rows; row 2 acts only in the first decision, row 1 never has an agent with a choice."""
    rng = np.random.default_rng(1)
    tally = GreedyTally(episodes=3)
    assert tally.per_episode() == {}
    sums = np.zeros((3, 4))  # agreeing, choosing, joint, decisions
    for rows in ([0, 1, 2], [0, 1], [1, 0]):
        chosen, logits, avail = random_roots(rng, roots=len(rows), agents=3, actions=4)
        where_one = [k for k, r in enumerate(rows) if r == 1]
        avail[where_one] = 0
        avail[where_one, :, 0] = 1          # row 1: every agent has a single legal action
        chosen[where_one] = 0
        found = greedy_agreement(chosen, logits, avail)
        tally.add(torch.tensor(rows), found)
        for k, r in enumerate(rows):
            sums[r] += [int(found.agreeing[k]), int(found.choosing[k]), int(found.joint[k]), 1]
    out = tally.per_episode()
    expected_agreement = [sums[r, 0] / sums[r, 1] if sums[r, 1] else 1.0 for r in range(3)]
    assert out["greedy_agreement"].tolist() == pytest.approx(expected_agreement)
    assert out["search_picks_greedy"].tolist() == pytest.approx((sums[:, 2] / sums[:, 3]).tolist())
    assert out["greedy_agreement"][1] == 1.0 and out["search_picks_greedy"][1] == 1.0

"""Action selection helpers and the per-agent policy target."""
from __future__ import annotations

import torch
from torch import Tensor

from search import SearchResult, select_action_eval, select_action_train
from search_toys import single_thread  # noqa: F401  (autouse fixture)


def make_result(visits: list[list[int]], actions: Tensor | None = None) -> SearchResult:
    counts = torch.tensor(visits)
    batch, k = counts.shape
    if actions is None:
        actions = torch.stack([torch.arange(k), torch.arange(k).flip(0)], dim=-1).expand(batch, k, 2).clone()
    zeros = torch.zeros(batch, k)
    return SearchResult(actions, counts > -1, counts, zeros, zeros, zeros, zeros, zeros, zeros,
                        torch.zeros(batch), torch.zeros(batch))



def test_eval_breaks_ties_uniformly() -> None:
    result = make_result([[5, 5, 5, 1]] * 3000)
    picked = select_action_eval(result, torch.Generator().manual_seed(0))[:, 0]
    freq = torch.bincount(picked, minlength=4).float() / 3000
    assert freq[3] == 0
    assert (freq[:3] - 1 / 3).abs().max() < 0.04


def test_eval_takes_the_most_visited() -> None:
    result = make_result([[1, 7, 2, 0]])
    assert select_action_eval(result, torch.Generator().manual_seed(0)).tolist() == [[1, 2]]


def test_train_samples_proportionally_to_visits() -> None:
    result = make_result([[1, 3, 0, 6]] * 5000)
    picked = select_action_train(result, 1.0, torch.Generator().manual_seed(1))[:, 0]
    freq = torch.bincount(picked, minlength=4).float() / 5000
    torch.testing.assert_close(freq, torch.tensor([0.1, 0.3, 0.0, 0.6]), atol=0.03, rtol=0)
    cold = select_action_train(make_result([[1, 3, 0, 6]]), 0.0, torch.Generator().manual_seed(1))
    assert cold.tolist() == [[3, 0]]

"""With a perfect model of a one-shot 2-agent, 3-action matrix game the search finds the optimum."""
from __future__ import annotations

import itertools

import torch
from torch import Tensor

from search import ModelOutput, SampledMCTS, SearchConfig, select_action_eval
from search_toys import single_thread  # noqa: F401  (autouse fixture)

MATGAME1 = torch.tensor([[8.0, -12.0, -12.0], [-12.0, 0.0, 0.0], [-12.0, 0.0, 0.0]])


class PerfectMatrixModel:
    """Latent = [is_terminal]; the first step pays payoff[a1, a2], then everything is 0. Uniform prior."""

    def __init__(self, payoff: Tensor) -> None:
        self.payoff = payoff

    def initial_inference(self, obs: Tensor, agent_mask: Tensor) -> ModelOutput:
        batch = obs.shape[0]
        return ModelOutput(torch.zeros(batch, 2, 1), None, torch.zeros(batch), torch.zeros(batch, 2, 3))

    def recurrent_inference(self, latent: Tensor, joint_action: Tensor, agent_mask: Tensor) -> ModelOutput:
        done = latent[:, 0, 0]
        reward = torch.where(done > 0, 0.0, self.payoff[joint_action[:, 0], joint_action[:, 1]])
        batch = latent.shape[0]
        return ModelOutput(torch.ones(batch, 2, 1), reward, torch.zeros(batch), torch.zeros(batch, 2, 3))


def test_optimal_joint_action_chosen_whenever_sampled() -> None:
    batch = 48
    cfg = SearchConfig(num_simulations=50, num_sampled_actions=6, use_noise=True)
    engine = SampledMCTS(cfg)
    generator = torch.Generator().manual_seed(0)
    checked = 0
    for row_perm, col_perm in itertools.product(itertools.permutations(range(3)), repeat=2):
        payoff = MATGAME1[list(row_perm)][:, list(col_perm)]
        optimum = divmod(int(payoff.argmax()), 3)
        result = engine.search(PerfectMatrixModel(payoff), torch.zeros(batch, 2, 1), torch.ones(batch, 2, 3),
                               torch.ones(batch, 2, dtype=torch.bool), generator)
        chosen = select_action_eval(result, generator)
        optimal = torch.tensor(optimum)
        sampled = ((result.joint_actions == optimal).all(-1) & result.valid).any(-1)
        picked = (chosen == optimal).all(-1)
        assert picked[sampled].all(), f"payoff {payoff.tolist()}"
        assert not picked[~sampled].any()
        checked += int(sampled.sum())
    assert checked > 36 * batch // 3          # sampled in about 1 - (8/9)**6 = 51% of roots


def test_q_values_equal_payoffs() -> None:
    payoff = MATGAME1[[2, 0, 1]][:, [1, 2, 0]]
    cfg = SearchConfig(num_simulations=30, num_sampled_actions=6, lam=0.0)
    result = SampledMCTS(cfg).search(PerfectMatrixModel(payoff), torch.zeros(8, 2, 1), torch.ones(8, 2, 3),
                                     torch.ones(8, 2, dtype=torch.bool), torch.Generator().manual_seed(1))
    acts = result.joint_actions
    expected = payoff[acts[..., 0], acts[..., 1]]
    visited = result.visit_counts > 0
    torch.testing.assert_close(result.q_values[visited], expected[visited])

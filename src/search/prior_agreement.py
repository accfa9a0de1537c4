"""How far a played joint action strays from the prior's greedy joint action (each agent's likeliest
action, what the prior alone plays).

With flat priors over many agents, K candidates drawn from the prior often miss the greedy joint
action, and the search then plays something close to a sample of the prior; on SMAX 2s3z that
costs most of the prior's win rate. These counts let a run log that in every evaluation."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def agents_with_a_choice(avail: Tensor) -> Tensor:
    """Agents [..., N] with two or more legal actions (the others' prior has nothing to decide)."""
    return avail.bool().sum(-1) >= 2


def greedy_actions(prior_logits: Tensor, avail: Tensor) -> Tensor:
    """Each agent's likeliest legal action [..., N] (first of exact ties) from logits [..., N, A]."""
    return prior_logits.float().masked_fill(~avail.bool(), float("-inf")).argmax(-1)


@dataclass
class GreedyAgreement:
    """Per root [B]: agents with a choice that play their greedy action, agents with a choice, and
    whether the whole joint action is the greedy one."""

    agreeing: Tensor   # long [B]
    choosing: Tensor   # long [B]
    joint: Tensor      # bool [B]


def greedy_agreement(chosen: Tensor, prior_logits: Tensor, avail: Tensor) -> GreedyAgreement:
    """chosen [B, N] played (model) actions, prior_logits [B, N, A] the root prior's, avail [B, N, A] 0/1."""
    same = chosen == greedy_actions(prior_logits, avail)
    choosing = agents_with_a_choice(avail)
    return GreedyAgreement(agreeing=(same & choosing).sum(-1), choosing=choosing.sum(-1),
                           joint=(same | ~choosing).all(-1))


def agreement_share(agreeing: Tensor, choosing: Tensor) -> Tensor:
    """agreeing / choosing as float64, 1 where no agent had a choice (nothing to disagree with)."""
    return torch.where(choosing > 0, agreeing / choosing.clamp(min=1), torch.ones(())).double()


class GreedyTally:
    """Sums `GreedyAgreement` over the decisions of one batch of episodes, per episode row."""

    def __init__(self, episodes: int) -> None:
        self.agreeing = torch.zeros(episodes, dtype=torch.long)
        self.choosing = torch.zeros(episodes, dtype=torch.long)
        self.joint = torch.zeros(episodes, dtype=torch.long)
        self.decisions = torch.zeros(episodes, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.decisions)

    def add(self, rows: Tensor, agreement: GreedyAgreement) -> None:
        """Adds one decision of each episode in `rows` (long [B] indices)."""
        rows = rows.cpu()
        for total, value in ((self.agreeing, agreement.agreeing), (self.choosing, agreement.choosing),
                             (self.joint, agreement.joint.long()), (self.decisions, torch.ones_like(rows))):
            total.index_add_(0, rows, value.cpu())

    def per_episode(self) -> dict[str, Tensor]:
        """`greedy_agreement`: share of the decisions of agents with a choice that took the agent's
        greedy action (1 where no agent ever had a choice); `search_picks_greedy`: share of the
        steps whose whole joint action was the greedy one. Empty when nothing was added."""
        if not bool(self.decisions.any()):
            return {}
        return {"greedy_agreement": agreement_share(self.agreeing, self.choosing),
                "search_picks_greedy": (self.joint / self.decisions.clamp(min=1)).double()}

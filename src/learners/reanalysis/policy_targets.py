"""A reanalysed policy target: what one search from a replayed position gives the policy loss.

`search_policy_targets` is the single function that turns positions into targets, in the
learner's process and in every reanalysis worker alike; all its randomness comes from the
request's seed, so the same request gives the same targets wherever it runs."""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor

from search import SampledMCTS
from search.model_protocol import SearchModel


@dataclass
class PolicyTargets:
    """Targets of P positions over their M sampled root joint actions (AWPO and BC read these)."""

    joint_actions: Tensor  # long [P, M, N]
    omega: Tensor          # [P, M]: the search policy N(a) / N
    valid: Tensor          # bool [P, M]: a sampled child (False: padding, or a position not searched)
    advantages: Tensor     # [P, M]: optimistic advantages Q(s, a) - v(s) of the search (paper eq. 8)
    root_value: Tensor     # [P]: OS(lambda) value of the root
    root_pred_value: Tensor  # [P]: the model's own value of the root (the search's gain is the difference)
    model_update: Tensor   # long [P]: learner update at which the searching model was copied

    @classmethod
    def empty(cls, positions: int, children: int, agents: int, device: torch.device | str = "cpu") -> "PolicyTargets":
        """Targets with no valid child: they add nothing to any policy loss."""
        return cls(
            joint_actions=torch.zeros(positions, children, agents, dtype=torch.long, device=device),
            omega=torch.zeros(positions, children, device=device),
            valid=torch.zeros(positions, children, dtype=torch.bool, device=device),
            advantages=torch.zeros(positions, children, device=device),
            root_value=torch.zeros(positions, device=device),
            root_pred_value=torch.zeros(positions, device=device),
            model_update=torch.full((positions,), -1, dtype=torch.long, device=device),
        )

    @classmethod
    def concat(cls, parts: list["PolicyTargets"]) -> "PolicyTargets":
        return cls(**{f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    def __len__(self) -> int:
        return self.root_value.shape[0]

    def select(self, index: Tensor) -> "PolicyTargets":
        return PolicyTargets(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def assign(self, index: Tensor, other: "PolicyTargets") -> None:
        """self[index] = other, field by field."""
        for f in fields(self):
            getattr(self, f.name)[index] = getattr(other, f.name).to(getattr(self, f.name).dtype)

    def to(self, device: torch.device | str) -> "PolicyTargets":
        return PolicyTargets(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


@dataclass
class SearchRequest:
    """P positions to search with the model copied at learner update `model_update`."""

    inputs: Tensor   # [P, N, D] model inputs
    avail: Tensor    # [P, N, A] model action availability
    mask: Tensor     # bool [P, N] alive agents
    seed: int        # every random draw of the search comes from a generator seeded with this
    model_update: int

    def to(self, device: torch.device | str) -> "SearchRequest":
        return SearchRequest(self.inputs.to(device), self.avail.to(device), self.mask.to(device),
                             self.seed, self.model_update)


@torch.no_grad()
def search_policy_targets(search: SampledMCTS, model: SearchModel, request: SearchRequest) -> PolicyTargets:
    """One batched search over the request's positions (the model is put in eval mode: no dropout)."""
    model.eval()
    generator = torch.Generator(device=request.inputs.device).manual_seed(request.seed)
    result = search.search(model, request.inputs, request.avail, request.mask, generator)
    return PolicyTargets(
        joint_actions=result.joint_actions, omega=result.search_policy, valid=result.valid,
        advantages=result.advantages.float(), root_value=result.root_value.float(),
        root_pred_value=result.root_pred_value.float(),
        model_update=torch.full_like(result.root_value, request.model_update, dtype=torch.long),
    )

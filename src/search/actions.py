"""Turning a search result into actions and policy targets."""
from __future__ import annotations

import torch
from torch import Tensor

from .result import SearchResult


def _pick(result: SearchResult, slot: Tensor) -> Tensor:
    """Joint action [B, N] at slot [B]."""
    n_agents = result.joint_actions.shape[-1]
    return result.joint_actions.gather(1, slot.view(-1, 1, 1).expand(-1, 1, n_agents)).squeeze(1)


def select_action_train(result: SearchResult, temperature: float, generator: torch.Generator) -> Tensor:
    """Sample a root child with probability proportional to N(a)^(1/T); T=0 is the evaluation argmax."""
    if temperature == 0.0:
        return select_action_eval(result, generator)
    counts = result.visit_counts.double().clamp(min=0.0) * result.valid
    logits = torch.where(counts > 0, counts.log() / temperature, torch.full_like(counts, float("-inf")))
    probs = torch.softmax(logits, dim=-1)
    slot = torch.multinomial(probs.to(generator.device), 1, generator=generator).view(-1)
    return _pick(result, slot.to(probs.device))


def select_action_eval(result: SearchResult, generator: torch.Generator) -> Tensor:
    """argmax of visit counts; equal counts are broken uniformly at random (no low-index bias)."""
    noise = torch.rand(result.visit_counts.shape, generator=generator, device=generator.device)
    score = result.visit_counts.double() + 0.5 * noise.to(result.visit_counts.device).double()
    score = torch.where(result.valid, score, torch.full_like(score, float("-inf")))
    return _pick(result, score.argmax(-1))


"""What the MAZero model hands to the search engine and to the learner.

The search's `ModelOutput` (src/search/model_protocol.py, docs/architecture.md "Search model")
carries decoded scalars. `MAZeroOutput` extends it with the categorical logits behind them
(optional, default None), so the learner can reuse one forward pass for its cross-entropy
losses; the search ignores the extra fields.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from search.model_protocol import ModelOutput


@dataclass
class MAZeroOutput(ModelOutput):
    value_logits: Tensor | None = None   # [B, 2S+1] categorical logits behind `value`
    reward_logits: Tensor | None = None  # [B, 2S+1] categorical logits behind `reward`

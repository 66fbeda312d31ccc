"""Confidence measures computed from logits; higher means more confident, all in [0, 1].

Shared by inference (:mod:`aebnas.models.network`, :mod:`aebnas.runtime`) and threshold tuning
(:mod:`aebnas.thresholds`); registered in :data:`CONFIDENCES` (``thresholds.confidence``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from aebnas.registry import Registry

Confidence = Callable[[torch.Tensor], torch.Tensor]
CONFIDENCES: Registry[Confidence] = Registry("confidence measure")


@CONFIDENCES.register("margin")
def score_margin(logits: torch.Tensor) -> torch.Tensor:
    """Top-1 minus top-2 softmax probability (the reference's measure); ``(N, C) -> (N,)``."""
    top2 = torch.softmax(logits.float(), dim=-1).topk(2, dim=-1).values
    return top2[:, 0] - top2[:, 1]


@CONFIDENCES.register("max-softmax")
def max_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Largest softmax probability; ``(N, C) -> (N,)``."""
    return torch.softmax(logits.float(), dim=-1).max(dim=-1).values


@CONFIDENCES.register("entropy")
def negative_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``1 - H(p) / log(C)``: 1 for a one-hot prediction, 0 for a uniform one.

    ``(N, C) -> (N,)``.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    entropy = -(logp.exp() * logp).sum(dim=-1)
    return 1.0 - entropy / math.log(logits.shape[-1])

"""Targets and the explained output: which labels a review is explained for, and F (probability or logit)."""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from saliency_cli import settings
from saliency_cli.model import LoadedModel


def check_targets(lm: LoadedModel, targets: Sequence[str]) -> None:
    """Fail early (ValueError) on a target that is not predicted, all, a label name or an index."""
    for t in targets:
        if t.strip().lower() not in {"predicted", "all"}:
            lm.label_index(t)


def resolve_targets(lm: LoadedModel, targets: Sequence[str], predicted: int) -> list[int]:
    """Label indices to explain for a review predicted as ``predicted`` (see ``settings.resolve_targets``)."""
    return settings.resolve_targets(lm.labels, targets, predicted)


def probabilities(lm: LoadedModel) -> Callable[[torch.Tensor], torch.Tensor]:
    """Logits -> label probabilities: sigmoid for single-output or multi-label models, else softmax."""
    cfg = lm.model.config
    multi = len(lm.labels) == 1 or getattr(cfg, "problem_type", None) == "multi_label_classification"
    return torch.sigmoid if multi else (lambda z: torch.softmax(z, dim=-1))


def explained(lm: LoadedModel, attribute: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Logits (float32) -> the explained output F for every label (``probability`` or ``logit``)."""
    probs = probabilities(lm)
    return probs if attribute == "probability" else (lambda z: z)


def argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)

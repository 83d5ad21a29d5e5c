"""The engine as it was before the [CLS]-only last layer, the CPU token cap on forward-only chunks,
the chunk plans and the lean bf16 attention kernel, for before/after ratios measured in the same
run (benchmark use only).

    with as_before(lm) as old_lm:
        explain_reviews(old_lm, reviews, settings)
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Callable, Iterator, Sequence


def greedy_chunks(lengths: Sequence[int], max_rows: Callable[[int], int], overhead: int = 0) -> list[int]:
    """The old chunking: fill each chunk to what its first row allows, then shrink it until its
    longest row fits (rows sorted by length)."""
    ends, start, n = [], 0, len(lengths)
    while start < n:
        rows = max(1, max_rows(lengths[start]))
        while rows > 1 and rows > max(1, max_rows(max(lengths[start:min(n, start + rows)]))):
            rows = max(1, max_rows(max(lengths[start:min(n, start + rows)])))
        start = min(n, start + rows)
        ends.append(start)
    return ends


@contextlib.contextmanager
def as_before(lm: Any) -> Iterator[Any]:
    """Yield ``lm`` without its [CLS]-only twins and lean attention variant, with greedy chunks and
    no inference token cap."""
    from saliency_cli.engine import budget, forward, gradients
    from saliency_cli.model.attention import NAME as LEAN

    saved = (budget.INFERENCE_TOKENS, gradients.plan_chunks, forward.plan_chunks)
    budget.INFERENCE_TOKENS = 1 << 40
    gradients.plan_chunks = forward.plan_chunks = greedy_chunks
    try:
        yield dataclasses.replace(lm, head_only={}, variants={k: v for k, v in lm.variants.items() if k != LEAN})
    finally:
        budget.INFERENCE_TOKENS, gradients.plan_chunks, forward.plan_chunks = saved

"""The memory budget: how much activation memory one chunk may use, how many rows fit in it, and
the one loop that runs work in chunks and halves a chunk that runs out of memory."""

from __future__ import annotations

import bisect
from typing import Any, Callable, Iterator, Sequence, TypeVar

import torch

from saliency_cli.engine import progress
from saliency_cli.model.loading import LoadedModel

DEFAULT_CPU_BUDGET = 512 << 20  # bytes of activations per chunk on CPU (keeps peak RSS under 2 GB)
INFERENCE_TOKENS = 2048  # tokens per forward-only chunk on CPU (rows x padded length), see inference_rows
# A chunk's fixed cost, in padded tokens, when chunks are planned (plan_chunks): one more model call
# cost 40-65 tokens' worth of forward + backward on MiniLM and 0-30 of inference on 2 CPU threads
# (benchmarks/README.md, "Levers measured on the quiet machine"); a bigger model's tokens cost
# more, so for it this is an upper bound.
CHUNK_OVERHEAD_TOKENS = 64
T = TypeVar("T")


def model_shape(config: Any) -> tuple[int, int, int]:
    """(hidden size, attention heads, layers) of a transformer config, BERT-base's where unset."""
    return (
        int(getattr(config, "hidden_size", 768) or 768),
        int(getattr(config, "num_attention_heads", 12) or 12),
        int(getattr(config, "num_hidden_layers", 12) or 12),
    )


def activation_bytes_per_row(config: Any, length: int, attention: str | None = None) -> int:
    """Estimated activation memory of one row's forward+backward in float32.

    Per token and layer about 2 x 34 x hidden bytes are kept for the backward pass (Korthikanti
    et al. 2022, doubled for fp32; 40 here for headroom); eager attention also keeps about
    5 x heads x length scores per token, which fused (SDPA / flash) attention does not.
    Checked against measured peaks on CPU (BERT-base and MiniLM, 128-483 tokens). ``attention``
    names the kernel the chunk will run with (default: the model's).
    """
    hidden, heads, layers = model_shape(config)
    attention = attention or getattr(config, "_attn_implementation", "eager")
    fused = attention in {"sdpa", "flash_attention_2", "flex_attention"}
    per_token_layer = 2 * (40 * hidden + (0 if fused else 5 * heads * length))
    return max(1, layers * length * per_token_layer + 16 * length * hidden)


def inference_bytes_per_row(config: Any, length: int) -> int:
    """Estimated peak activation memory of one row's forward pass without gradients, float32.

    Nothing is kept for a backward pass, so only about two layers' intermediates are alive at once
    (the feed-forward's 4 x hidden dominates), plus the attention scores of one layer.
    """
    hidden, heads, _ = model_shape(config)
    return max(1, 4 * length * (2 * (8 * hidden) + 3 * heads * length))


def inference_rows(lm: LoadedModel, length: int, budget: int) -> int:
    """Rows of ``length`` tokens per forward-only chunk: what the budget allows, and on CPU at most
    ``INFERENCE_TOKENS`` tokens, since bigger inference chunks run slower per row there (their
    intermediates outgrow the caches; see benchmarks/README.md, "Forward-only chunk size")."""
    rows = max(1, budget // inference_bytes_per_row(lm.model.config, length))
    if lm.device.type == "cpu":
        rows = min(rows, max(1, INFERENCE_TOKENS // max(1, length)))
    return rows


def memory_budget(lm: LoadedModel, max_memory: int | None) -> int:
    """Bytes of activations one chunk may use: the user's budget, else a device-based default."""
    if max_memory is not None:
        return max_memory
    if lm.device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(lm.device)
        return int(free * 0.5)
    return DEFAULT_CPU_BUDGET


def plan_chunks(lengths: Sequence[int], max_rows: Callable[[int], int],
                overhead: int = CHUNK_OVERHEAD_TOKENS) -> list[int]:
    """Chunk ends over rows of ``lengths`` tokens, sorted by length (each chunk is padded to its
    longest row), that minimise padded tokens + ``overhead`` per chunk, no chunk holding more than
    ``max_rows(its longest length)`` rows. Cuts are placed where a longer length begins (and evenly
    inside a run too long for one chunk), so reviews of similar length share chunks and a long one
    does not pad a chunk of short ones. Unsorted lengths get plain chunks of ``max_rows``."""
    n = len(lengths)
    if any(lengths[i] > lengths[i + 1] for i in range(n - 1)):
        ends, start = [], 0
        while start < n:
            start = min(n, start + max(1, max_rows(max(lengths[start:]))))
            ends.append(start)
        return ends
    marks = [0] + [i for i in range(1, n) if lengths[i] != lengths[i - 1]] + [n]
    best = {0: 0.0}
    back: dict[int, int] = {}
    for b, j in enumerate(marks[1:], start=1):
        longest, cap = lengths[j - 1], max(1, max_rows(lengths[j - 1]))
        for i in marks[:b]:
            rows = j - i
            cost = best[i] + rows * longest + -(-rows // cap) * overhead
            if cost < best.get(j, float("inf")):
                best[j], back[j] = cost, i
    ends: list[int] = []
    j = n
    while j > 0:
        i = back[j]
        rows, cap = j - i, max(1, max_rows(lengths[j - 1]))
        k = -(-rows // cap)
        ends.extend(i + (rows * t + k - 1) // k for t in range(k, 0, -1))
        j = i
    return ends[::-1]


def planned(ends: Sequence[int]) -> Callable[[int, int], int]:
    """A ``size(start, cap)`` for ``run_in_chunks`` that stops at the planned chunk ends."""

    def size(start: int, cap: int) -> int:
        return ends[bisect.bisect_right(ends, start)] - start

    return size


def run_in_chunks(lm: LoadedModel, total: int, size: Callable[[int, int], int], work: Callable[[int, int], None],
                  cost: Callable[[int, int], float] | None = None) -> None:
    """Run ``work(start, stop)`` over rows [0, total) in chunks of ``size(start, cap)`` rows.

    ``cap`` starts at ``total``; an out-of-memory error halves it and retries the same rows, so the
    work of one chunk must only take effect once it has succeeded. ``cost(start, stop)``, the chunk's
    tokens x passes, is told to the batch's progress meter once the chunk is done.
    """
    cap, start = total, 0
    while start < total:
        n = max(1, min(cap, size(start, cap)))
        stop = min(total, start + n)
        try:
            work(start, stop)
        except torch.OutOfMemoryError:
            if stop - start == 1:
                raise
            cap = max(1, (stop - start) // 2)
            if lm.device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        if cost is not None:
            progress.advance(cost(start, stop))
        start = stop


def groups(
    lm: LoadedModel, items: Sequence[T], length_of: Callable[[T], int], group_size: int, budget: int
) -> Iterator[list[T]]:
    """Consecutive groups of at most ``group_size`` items (sorted by length), cut where the
    group's own tensors (input and baseline embeddings, float32, at its longest length) would pass
    an eighth of the memory budget (BERT-base, 512 MB: up to 20 reviews of 512 tokens, 266 of 40)."""
    hidden, _, _ = model_shape(lm.model.config)
    group: list[T] = []
    longest = 0
    for item in items:
        length = max(longest, length_of(item))
        if group and (len(group) >= group_size or (len(group) + 1) * length * hidden * 8 > budget // 8):
            yield group
            group, length = [], length_of(item)
        group.append(item)
        longest = length
    if group:
        yield group

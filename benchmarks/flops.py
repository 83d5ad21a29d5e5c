"""Honest FLOP accounting for the benchmarks, and the matmul ceiling it is compared with.

Useful work of one pass on a review of n real tokens (padding never counts):

* forward: per layer and token, the linear layers 2 x (4 h^2 + 2 h f) (Q, K, V, output; FFN in
  and out) plus the attention products 4 n h (scores Q K^T and the value product, 2 n h each);
* backward with frozen parameters (``requires_grad_(False)``): only the gradient with respect to
  the input is computed, so each linear layer costs one more matmul (dX = dY W), one forward's
  worth, and each attention product two (both of its operands depend on the input);
  so forward + backward = 2 x linear + 3 x attention, not 3 x forward;
* the classifier reads position 0 only: the last layer needs keys and values of every token, but
  its query, output projection, feed-forward and attention for position 0 alone (``needed``);
  ``full`` counts the whole last layer, as a model that computes every position does.

Head and pooler (one token) and embeddings (a lookup) are left out: under 0.1 % here.
The ceiling is the best rate of ``torch.nn.functional.linear`` on the model's own shapes
(4096 tokens x hidden x hidden / FFN, forward and input-gradient orientation), measured in the same
run as the workload it is compared with.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence


def model_dims(config: Any) -> tuple[int, int, int]:
    """(layers, hidden, FFN width) of a BERT-style config."""
    hidden = int(config.hidden_size)
    return int(config.num_hidden_layers), hidden, int(getattr(config, "intermediate_size", 4 * hidden) or 4 * hidden)


def pass_parts(lengths: Sequence[int], config: Any, backward: bool, needed: bool = True) -> tuple[float, float]:
    """FLOPs of one pass over reviews of ``lengths`` real tokens, split into (linear layers,
    attention products), so each kernel family's rate can be read apart. ``backward``: forward +
    input-gradient backward; ``needed``: the last layer counted for position 0 only (module docstring)."""
    layers, h, f = model_dims(config)
    lin_token = 2 * (4 * h * h + 2 * h * f)  # per token and layer
    linear = attention = 0.0
    for n in lengths:
        lin = layers * n * lin_token
        att = layers * n * 4 * n * h
        if needed:
            lin -= n * lin_token - (n * 2 * 2 * h * h + (lin_token - 2 * 2 * h * h))  # K, V for all; the rest for one
            att -= 4 * n * n * h - 4 * n * h  # one query
        linear += 2 * lin if backward else lin
        attention += 3 * att if backward else att
    return float(linear), float(attention)


def pass_flops(lengths: Sequence[int], config: Any, backward: bool, needed: bool = True) -> float:
    """FLOPs of one pass (forward, or forward + input-gradient backward) over reviews of ``lengths``
    real tokens. ``needed``: the last layer counted for position 0 only (see the module docstring)."""
    return sum(pass_parts(lengths, config, backward, needed))


def linear_shapes(config: Any, tokens: int = 4096) -> list[tuple[int, int, int]]:
    """(rows, in, out) of the model's linear layers, forward and input-gradient orientation."""
    _, h, f = model_dims(config)
    return [(tokens, h, h), (tokens, h, f), (tokens, f, h)]


def matmul_ceiling(config: Any, dtype: str = "float32", seconds: float = 3.0,
                   clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Best sustained GFLOP/s of ``F.linear`` on the model's shapes; also each shape's rate.
    ``clock``: wall time by default; ``time.process_time`` gives CPU seconds (one thread: busy time)."""
    import torch
    import torch.nn.functional as F

    dt = getattr(torch, dtype)
    rates: dict[str, float] = {}
    shapes = linear_shapes(config)
    for m, k, n in shapes:
        x, w = torch.randn(m, k, dtype=dt), torch.randn(n, k, dtype=dt)
        for _ in range(2):
            F.linear(x, w)
        count, start = 0, clock()
        while True:
            F.linear(x, w)
            count += 1
            elapsed = clock() - start
            if elapsed >= seconds / len(shapes):
                break
        rates[f"{m}x{k}x{n}"] = 2 * m * k * n * count / elapsed / 1e9
    rates["best"] = max(rates.values())
    return rates


def add_clock_options(parser: Any) -> None:
    """``--threads`` and ``--cpu-time``, shared by the profiling benchmarks."""
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with this process's CPU seconds instead of wall time (steadier on a shared "
                             "machine; with --threads 1 it is the single core's busy time)")


def clock_from(args: Any) -> Callable[[], float]:
    """Apply ``--threads`` and return the clock ``--cpu-time`` asks for."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    return time.process_time if args.cpu_time else time.perf_counter

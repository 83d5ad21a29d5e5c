"""Precision of a chunk: which dtype the model's matmuls run in and which attention kernel is fastest for it.

Hardware facts (native bf16, the attention variants a model can run) are read once when the model
is loaded (``LoadedModel.fast_bf16``, ``LoadedModel.variants``); nothing here changes the shared model.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

from saliency_cli.model.attention import NAME as LEAN
from saliency_cli.engine.budget import activation_bytes_per_row, model_shape
from saliency_cli.model.loading import LoadedModel
from saliency_cli.settings import SettingError

# Without the lean kernel, eager attention is used under bf16 on CPU while heads x length <= this x hidden^2.
EAGER_ATTENTION_RATIO = 0.025


def resolve_dtype(spec: str, lm: LoadedModel) -> str:
    """``auto`` picks bfloat16 where the hardware runs it natively (read at model load: CUDA with
    bf16, CPUs with AVX512-BF16 or AMX), float16 on older GPUs, else float32; explicit choices are
    checked against the device. ``spec`` was validated by ``settings.make_settings``."""
    spec = (spec or "float32").lower()
    if spec == "auto":
        if lm.fast_bf16:
            return "bfloat16"
        return "float16" if lm.device.type == "cuda" else "float32"
    if spec == "float16" and lm.device.type == "cpu":
        raise SettingError("dtype", "float16 is not supported on CPU; use bfloat16 or float32")
    return spec


def attention_for(lm: LoadedModel, dtype: str, length: int) -> str:
    """The attention kernel a chunk of ``length`` tokens runs with.

    On CPU under bf16 the lean kernel (``engine.attention``) wherever the model has it: PyTorch's
    fused SDPA kernel is slower in bfloat16 than in float32 (its backward about 2x), and the
    library's eager attention spends its time making [length x length] copies. Forward + input-
    gradient backward against the kernel the older rule below picks, 2 threads: MiniLM 1.14-1.27x at
    128-447 tokens and even below; BERT-base 1.03-1.08x; inference 0.98-1.05x (benchmarks/README.md,
    "Levers measured on the quiet machine"). Models without it keep the older rule: eager attention
    while the per-token score work (heads x length) is small next to the projections (hidden^2),
    else SDPA. In float32, and off the CPU, the model's own kernel stands (SDPA is as fast or faster).
    """
    current = getattr(lm.model.config, "_attn_implementation", None) or "eager"
    if lm.device.type != "cpu" or dtype == "float32" or current != "sdpa":
        return current
    if LEAN in lm.variants:
        return LEAN
    if "eager" not in lm.variants:
        return current
    hidden, heads, _ = model_shape(lm.model.config)
    return "eager" if heads * length <= EAGER_ATTENTION_RATIO * hidden * hidden else current


def row_bytes(lm: LoadedModel, dtype: str, length: int) -> int:
    """Activation memory of one forward+backward row of ``length`` tokens with the kernel it will use."""
    return activation_bytes_per_row(lm.model.config, length, attention_for(lm, dtype, length))


def rows_per_chunk(lm: LoadedModel, dtype: str, length: int, budget: int) -> int:
    return max(1, budget // row_bytes(lm, dtype, length))


@contextlib.contextmanager
def precision(lm: LoadedModel, dtype: str, length: int) -> Iterator[Any]:
    """Yield the model to run a chunk of ``length`` tokens with, under mixed precision for its
    matmuls (inputs, gradients and sums stay float32) and with the fastest attention variant.

    Where the classifier reads only position 0 of the last layer (BERT, RoBERTa, XLM-RoBERTa,
    ELECTRA, DistilBERT), the yielded module computes that layer for position 0 only
    (``engine.head_only``): the same logits and input gradients; only ``.logits`` of its output may be used."""
    kernel = attention_for(lm, dtype, length)
    model = lm.head_only.get(kernel)
    if model is None:
        model = lm.variants.get(kernel, lm.model)
    if dtype == "float32":
        yield model
        return
    with torch.autocast(device_type=lm.device.type, dtype=getattr(torch, dtype)):
        yield model

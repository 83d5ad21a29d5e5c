"""A lean eager attention kernel for encoder classifiers on CPU, registered with transformers.

The library's eager attention makes a new [batch, heads, length, length] tensor at every step
(scores, scaled scores, masked scores, float32 probabilities, their bf16 copy) and its backward
runs through all of them; PyTorch's fused SDPA kernel on CPU recomputes the scores in its backward
and runs 32-wide heads at about half the matmul rate. This kernel makes two such tensors (the masked,
scaled scores in one ``baddbmm``, then the probabilities), and autograd keeps only the
probabilities. Same math, so its outputs agree with eager and SDPA attention to float rounding.

It is only valid where every query row of the mask is the same padding mask (bidirectional
encoders), which is where ``LoadedModel.variants`` builds it (see ``model.attention_variants``).
"""

from __future__ import annotations

from typing import Any

import torch

NAME = "saliency_lean"


def lean_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                   attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                   **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Attention output [batch, q_length, heads, head size] (the layout transformers' kernels return)."""
    b, h, lq, d = query.shape
    lk = key.shape[-2]
    scale = d ** -0.5 if scaling is None else scaling
    q = query.reshape(b * h, lq, d)
    k_t = key.reshape(b * h, lk, d).transpose(1, 2)
    if attention_mask is None:
        scores = torch.bmm(q, k_t).mul_(scale)
    else:
        rows = attention_mask[:, :, :1, :]  # the additive float mask's first query row: [batch, 1, 1, lk]
        bias = rows.to(query.dtype).expand(b, h, 1, lk).reshape(b * h, 1, lk)
        scores = torch.baddbmm(bias, q, k_t, alpha=scale)
    probs = torch.softmax(scores, dim=-1)
    if dropout:  # transformers passes a non-zero rate only to a module in training mode
        probs = torch.nn.functional.dropout(probs, p=dropout)
    out = torch.bmm(probs, value.reshape(b * h, lk, d))
    return out.view(b, h, lq, d).transpose(1, 2), None


def register() -> str:
    """Register the kernel (and the eager float mask it reads) under ``NAME``; idempotent."""
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    ALL_ATTENTION_FUNCTIONS.register(NAME, lean_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, eager_mask)
    return NAME

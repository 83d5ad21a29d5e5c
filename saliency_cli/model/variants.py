"""Variants of a loaded model built once at load, sharing its weights: other attention kernels
(eager, and the lean kernel of ``model.attention``) and the [CLS]-only twin of ``model.head_only``."""

from __future__ import annotations

import copy
from typing import Any, Mapping

import torch


def attention_variants(model: Any, device: torch.device) -> dict[str, Any]:
    """Other attention kernels of the same model, sharing its weights (no copy of the parameters).

    On CPU a model running fused SDPA attention also gets an eager variant and, where it is exact
    (bidirectional encoders, ``engine.head_only.supported``), the lean kernel of ``engine.attention``;
    ``engine.precision.attention_for`` picks among them per dtype and length. Built once here, so no
    chunk ever switches the shared model's kernel. A model that cannot switch gets none.
    """
    current = getattr(model.config, "_attn_implementation", None)
    if device.type != "cpu" or current != "sdpa" or not hasattr(model, "set_attn_implementation"):
        return {}
    from saliency_cli.model import attention, head_only

    kernels = ["eager"] + ([attention.register()] if head_only.supported(model) else [])
    out = {}
    for kernel in kernels:
        shared = {id(t): t for t in (*model.parameters(), *model.buffers())}  # a fresh memo: deepcopy fills it
        variant = copy.deepcopy(model, shared)
        try:
            variant.set_attn_implementation(kernel)
        except (ValueError, ImportError, AttributeError):
            continue
        out[kernel] = variant
    return out


def head_only_variants(model: Any, variants: Mapping[str, Any]) -> dict[str, Any]:
    """Per attention kernel, the model with its last layer computed for the classifier's position
    only, sharing the weights (``engine.head_only``); empty where that would not be exact."""
    from saliency_cli.model.head_only import head_only_model

    current = getattr(model.config, "_attn_implementation", None) or "eager"
    out = {}
    for kernel, module in {current: model, **variants}.items():
        twin = head_only_model(module)
        if twin is not None:
            out[kernel] = twin
    return out


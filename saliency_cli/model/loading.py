"""Load a sequence classifier (local folder, hub id, or the embedded default) onto a device."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import torch

from saliency_cli.model.devices import ModelLoadError, native_bf16, resolve_device
from saliency_cli.model.variants import attention_variants, head_only_variants
from saliency_cli.settings import label_index


@dataclass(frozen=True)
class LoadedModel:
    """A classifier ready for attribution: model in eval mode, its fast tokenizer, label names, and
    the hardware facts read once at load: native bf16, and attention variants sharing the weights."""

    model: Any
    tokenizer: Any
    name: str
    labels: tuple[str, ...]
    device: torch.device
    max_length: int
    fast_bf16: bool = False
    variants: Mapping[str, Any] = field(default_factory=dict)
    head_only: Mapping[str, Any] = field(default_factory=dict)  # kernel -> last layer for [CLS] only

    def with_model(self, model: Any) -> "LoadedModel":
        """The same tokenizer, labels and device with another module of the same architecture
        (its attention variants rebuilt, so they share the new module's weights)."""
        variants = attention_variants(model, self.device)
        return replace(self, model=model, variants=variants, head_only=head_only_variants(model, variants))

    def label_index(self, spec: str) -> int:
        """Resolve a label name (case-insensitive) or an integer index to a label index."""
        return label_index(self.labels, spec)


@dataclass(frozen=True)
class ModelSpec:
    """How to load a model (for a process that loads its own copy, e.g. a Ray actor): the ``--model``
    value (None: the embedded one) and its options."""

    name: str | None = None
    device: str = "auto"
    trust_remote_code: bool = False
    max_length: int | None = None

    def load(self) -> "LoadedModel":
        """The LoadedModel, as ``saliency-cli explain`` loads it locally."""
        return load_model(self.name, device=self.device, trust_remote_code=self.trust_remote_code,
                          max_length=self.max_length)


def quiet_transformers() -> None:
    """No transformers warnings or progress bars on stderr: a run prints only its own messages."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()



def _labels_of(config: Any) -> tuple[str, ...]:
    n = int(getattr(config, "num_labels", 0) or len(getattr(config, "id2label", {}) or {}))
    id2label = getattr(config, "id2label", None) or {}
    return tuple(str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(n))


def _model_max_length(model: Any, tokenizer: Any) -> int:
    """The longest input the model accepts: position embeddings and tokenizer limit, whichever is smaller."""
    limits = []
    pos = getattr(model.config, "max_position_embeddings", None)
    if isinstance(pos, int) and pos > 0:
        # RoBERTa-style models reserve padding_idx + 1 positions.
        offset = 2 if getattr(model.config, "model_type", "") in {"roberta", "xlm-roberta", "camembert"} else 0
        limits.append(pos - offset)
    tok = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok, int) and 0 < tok < 1_000_000:
        limits.append(tok)
    return min(limits) if limits else 512


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"} or os.environ.get(
        "TRANSFORMERS_OFFLINE", "0"
    ).lower() in {"1", "true", "yes"}


def _hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached, or None. A quick connect first, so that a mistyped model
    name on an offline machine fails at once instead of after the hub client's minute of retries.
    Behind a proxy the direct connect says nothing, so it is skipped."""
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    url = urlsplit(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"
    return None


def _method_hint(source: str) -> str:
    """'; did you mean --method X?' when a model name is one of the method names."""
    from saliency_cli.methods import get_method

    try:
        method = get_method(source)
    except (KeyError, ValueError):
        return ""
    return f"; did you mean --method {source}? ({method.name} is an attribution method)"


def _from_pretrained(source: str, *, trust_remote_code: bool, local_only: bool):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "local_files_only": local_only}
    tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, **kwargs)
    model = AutoModelForSequenceClassification.from_pretrained(source, **kwargs)
    return model, tokenizer


def load_model(
    source: str | None = None,
    *,
    device: str = "auto",
    trust_remote_code: bool = False,
    max_length: int | None = None,
) -> LoadedModel:
    """Load ``source`` (local folder or hub id; ``None`` = embedded default) for attribution.

    Local folders and the Hugging Face cache are tried first, so it works offline; the hub is
    only contacted when the files are not cached and ``HF_HUB_OFFLINE`` is not set. Remote code
    is never run unless ``trust_remote_code`` is true.
    """
    dev = resolve_device(device)
    if max_length is not None and max_length < 3:
        raise ModelLoadError("--max-length must be at least 3")
    if source is None:
        model, tokenizer, name = _load_default()
    else:
        model, tokenizer = _load_named(source, trust_remote_code=trust_remote_code)
        name = source
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"model {name!r} has no fast tokenizer; saliency-cli needs one for character offsets"
        )
    # We count overlong inputs ourselves (truncation is flagged per row); silence the library's warning.
    getattr(tokenizer, "deprecation_warnings", {})["sequence-length-is-longer-than-the-specified-maximum"] = True
    model.eval()
    model.to(dev)
    for p in model.parameters():
        p.requires_grad_(False)
    limit = _model_max_length(model, tokenizer)
    if max_length is not None:
        limit = min(limit, max_length)
    labels = _labels_of(model.config)
    if not labels:
        raise ModelLoadError(f"model {name!r} declares no labels (config.num_labels is 0)")
    variants = attention_variants(model, dev)
    return LoadedModel(
        model=model, tokenizer=tokenizer, name=name, labels=labels, device=dev, max_length=limit,
        fast_bf16=native_bf16(dev), variants=variants, head_only=head_only_variants(model, variants),
    )


def _load_default() -> tuple[Any, Any, str]:
    from saliency_cli.model.default import DEFAULT_MODEL_NAME, load_default_model

    try:
        model, tokenizer = load_default_model()
    except Exception as exc:  # noqa: BLE001 - surfaced as one line to the user
        raise ModelLoadError(f"cannot load the embedded default model: {exc}") from exc
    return model, tokenizer, DEFAULT_MODEL_NAME


def _load_named(source: str, *, trust_remote_code: bool) -> tuple[Any, Any]:
    """A local folder, else the Hugging Face cache, else the hub (unless offline or unreachable)."""
    path = Path(source).expanduser()
    # Hub ids are "name" or "org/name"; anything else that does not exist is a missing folder.
    looks_local = path.exists() or source.startswith((".", "/", "~", "\\")) or source.count("/") > 1
    if looks_local and not path.is_dir():
        raise ModelLoadError(f"model folder not found: {source}")
    if path.is_dir():
        _check_folder(path, source)
    try:
        if path.is_dir():
            return _from_pretrained(str(path), trust_remote_code=trust_remote_code, local_only=True)
        try:
            return _from_pretrained(source, trust_remote_code=trust_remote_code, local_only=True)
        except OSError:
            if _hub_offline():
                raise
            unreachable = _hub_unreachable()
            if unreachable:
                raise ModelLoadError(
                    f"cannot load model {source!r}: not a local folder and not in the Hugging Face cache, "
                    f"and the hub cannot be reached ({unreachable}){_method_hint(source)}"
                ) from None
            return _from_pretrained(source, trust_remote_code=trust_remote_code, local_only=False)
    except ModelLoadError:
        raise
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise ModelLoadError(
                f"model {source!r} needs custom code from its repository; rerun with --trust-remote-code "
                "if you trust it"
            ) from exc
        damaged = " (a file in the folder is damaged or not the format its name says)" if path.is_dir() else ""
        raise ModelLoadError(f"cannot load model {source!r}: {_message(exc)}{damaged}") from exc
    except (OSError, KeyError, RuntimeError) as exc:
        if path.is_dir():
            raise ModelLoadError(f"cannot load model {source!r} from its folder: {_message(exc)}") from exc
        raise ModelLoadError(
            f"cannot load model {source!r}: not a local folder and not in the Hugging Face cache, "
            f"and the hub could not be reached ({_first_line(exc)})"
        ) from exc



def _check_folder(path: Path, source: str) -> None:
    """A clear error for a folder that cannot be a saved classifier (empty, or without its files)."""
    names = {p.name for p in path.iterdir()}
    if not names:
        raise ModelLoadError(f"cannot load model {source!r}: the folder is empty; it needs config.json, the weights "
                             "(model.safetensors) and the tokenizer files, as saved by save_pretrained()")
    if "config.json" not in names:
        raise ModelLoadError(f"cannot load model {source!r}: the folder has no config.json, so it is not a saved model "
                             f"(it holds {', '.join(sorted(names)[:8])}{', ...' if len(names) > 8 else ''})")
    tokenizer_files = {"tokenizer.json", "vocab.txt", "tokenizer_config.json", "spiece.model", "sentencepiece.bpe.model",
                       "vocab.json"}
    if not names & tokenizer_files:
        raise ModelLoadError(f"cannot load model {source!r}: the folder has no tokenizer files (tokenizer.json, vocab.txt, ...); "
                             "save the tokenizer next to the model with tokenizer.save_pretrained()")


def _message(exc: BaseException, limit: int = 300) -> str:
    """An exception's whole message on one line (some span several lines), cut at ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

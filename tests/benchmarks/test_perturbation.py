"""The perturbation benchmark runs end to end on the tiny model (no timing assertions)."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytest.importorskip("captum")
pytest.importorskip("scipy")

from benchmarks import perturbation  # noqa: E402

TEXTS = [
    "Great phone, the screen is bright. Terrible battery; it died in a day.",
    "Works as described, arrived on time.",
    "Awful customer service. The sound is fine, really.",
]


def test_perturbation_benchmark_on_tiny_model(tmp_path, bert_dir):
    corpus_file = tmp_path / "reviews.jsonl"
    corpus_file.write_text("".join(json.dumps({"review_id": str(i), "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    runners = [r for r in perturbation.RUNNERS if r != "shap-partition"]
    with_shap = importlib.util.find_spec("shap") is not None
    if with_shap:
        runners.append("shap-partition")
    out = tmp_path / "perturbation.json"
    perturbation.main([
        "--model", str(bert_dir), "--corpus-file", str(corpus_file), "--limit", "2", "--samples", "24",
        "--batch-size", "2", "--ppe", "1,8", "--shap-batch", "16", "--runners", ",".join(runners),
        "--out", str(out),
    ])
    report = json.loads(out.read_text())
    for key in ("model", "reviews", "real_tokens", "words", "samples", "dtype_auto", "threads", "versions",
                "results", "checks", "checks_passed"):
        assert key in report
    assert report["reviews"] == 2 and report["samples"] == 24
    assert report["dtype_auto"] in ("float32", "bfloat16")
    rows = {r["runner"]: r for r in report["results"]}
    expected = ["ours-occlusion", "ours-occlusion-auto", "captum-fa-1", "captum-fa-8", "ours-kernel-shap",
                "ours-kernel-shap-auto", "captum-ks"] + (["shap-partition"] if with_shap else [])
    for name in expected:
        row = rows[name]
        assert row["ok"], row
        for key in ("reviews_per_s", "forwards_per_review", "rows_per_s", "peak_rss_mb"):
            assert row[key] > 0, (name, key)
        assert "target_mismatch" not in row, row
    # Same copies as Captum: one prediction, F(x), one copy per word.
    assert rows["ours-occlusion"]["forwards_per_review"] == rows["captum-fa-1"]["forwards_per_review"]
    assert rows["ours-kernel-shap"]["forwards_per_review"] <= 24 + 1
    assert report["checks_passed"], report["checks"]
    for ppe in (1, 8):
        check = report["checks"][f"ours-occlusion vs captum-fa-{ppe}"]
        assert check["passed"] and check["max_abs_diff"] <= perturbation.OCCLUSION_TOL
    assert report["checks"]["ours-kernel-shap efficiency"]["passed"]
    assert "ours_x" in rows["ours-occlusion"] and "ours_x" in rows["ours-kernel-shap"]

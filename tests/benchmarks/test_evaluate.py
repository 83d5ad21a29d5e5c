"""The evaluate benchmark runs end to end on the tiny model (no timing assertions)."""

from __future__ import annotations

import json

from benchmarks import evaluate

TEXTS = [
    "Great phone, the screen is bright. Terrible battery; it died in a day.",
    "Works as described, arrived on time.",
    "Awful customer service. The sound is fine, really.",
]


def test_evaluate_benchmark_on_tiny_model(tmp_path, bert_dir, capsys):
    corpus = tmp_path / "reviews.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    out = tmp_path / "evaluate.json"
    result = evaluate.main(["--input", str(corpus), "--model", str(bert_dir), "--methods", "gxi,occlusion",
                            "--out", str(out)])
    assert json.loads(out.read_text()) == result
    assert result["reviews"] == 3 and result["methods"] == ["gradient-x-input", "occlusion", "random"]
    # gxi: the input pass; occlusion: its copies (full input and one per word)
    assert result["explain"]["model_rows_per_review"] > 1
    shared = result["faithfulness_rows_per_review"]
    assert 2 < shared < result["faithfulness_rows_without_sharing"] == 3 * 12
    assert set(result["summary"]["ranking"]) == {"gradient-x-input", "occlusion", "random"}
    assert "model rows/review" in capsys.readouterr().out

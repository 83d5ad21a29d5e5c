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
    # gxi: the input pass; occlusion: its copies (the full input and one per word); random: none
    from saliency_cli.model.loading import load_model

    tok = load_model(str(bert_dir), device="cpu").tokenizer
    words = sum(len({w for w in tok(t).word_ids() if w is not None}) for t in TEXTS)
    assert result["explain"]["model_rows_per_review"] == round((3 * 2 + words) / 3, 1)
    shared = result["faithfulness_rows_per_review"]
    assert 2 < shared < result["faithfulness_rows_without_sharing"] == 3 * 12
    methods = result["summary"]["methods"]
    assert result["summary"]["ranking"] == sorted(methods, key=lambda m: (methods[m]["mean_rank"], m))
    assert "model rows/review" in capsys.readouterr().out

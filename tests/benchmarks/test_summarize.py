"""The summarize benchmark: its generated rows are explain results, and it runs end to end (no timing assertions)."""

from __future__ import annotations

import json

import saliency_cli
from benchmarks import summarize


def test_generated_rows_are_results_that_summarize_reads(tmp_path):
    path = tmp_path / "rows.jsonl"
    summarize.write_rows(path, 301, vocab_size=40)
    lines = path.read_text().splitlines()
    assert len(lines) == 301 and json.loads(lines[0])["method"] == "integrated-gradients"
    summary = saliency_cli.summarize(str(path), min_count=1)
    assert summary["records"] == 301 and summary["reviews"] == 151
    assert {g["method"] for g in summary["groups"]} == set(summarize.METHODS)
    assert sum(map(sum, summary["confusion"]["counts"])) + summary["confusion"]["unlabelled"] == 151


def test_benchmark_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "bench.json"
    results = summarize.main(["--rows", "60", "--vocabulary", "30", "--html", "--out", str(out)])
    assert json.loads(out.read_text()) == results
    (row,) = results
    assert row["rows"] == 60 and row["peak_rss_mb"] > 0 and row["rows_per_s"] > 0 and row["html"]
    assert "peak RSS MB" in capsys.readouterr().out

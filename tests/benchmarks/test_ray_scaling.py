"""The Ray benchmark's inputs (no Ray here: its runs are timed by the benchmark itself)."""

from __future__ import annotations

import json

from benchmarks import ray_scaling


def test_million_input_is_short_unique_rows_in_shards(tmp_path):
    folder = ray_scaling.million_input(tmp_path / "in", 10, files=4)
    files = sorted(folder.iterdir())
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert [f.name for f in files] == ["part-0.jsonl", "part-1.jsonl", "part-2.jsonl", "part-3.jsonl"]
    assert [r["id"] for r in rows] == list(range(10)) and all(len(r["text"].split()) == 4 for r in rows)
    assert len({r["text"] for r in rows}) > 5


def test_shard_input_splits_the_sample_reviews_and_lines_counts_what_is_written(tmp_path):
    folder = ray_scaling.shard_input(tmp_path / "in", 5)
    assert [len(f.read_text().splitlines()) for f in sorted(folder.iterdir())] == [3, 2]
    out = tmp_path / "o.jsonl"
    count = ray_scaling.Lines(out)
    assert count() == 0
    (tmp_path / "o.jsonl.partial").write_text("{}\n{}\n")
    assert count() == 2
    (tmp_path / "o.jsonl.partial").write_text("{}\n{}\n{}\n")
    assert count() == 3

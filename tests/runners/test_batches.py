"""Batches cut at input rows, per file: the same batches in every runner and every resumed run."""

from __future__ import annotations

from saliency_cli.records import Review, RowError
from saliency_cli.runners.batches import row_batches


def test_no_batch_holds_rows_of_two_files():
    items = [Review(str(r), "x", r, "a.jsonl") for r in (1, 2, 3)] + [RowError(1, None, "bad", "b.jsonl")] + \
        [Review(str(r), "x", r, "b.jsonl") for r in (2, 3, 4, 5)]
    cut = [[(i.source, i.row) for i in batch] for _, batch in row_batches(items, 4)]
    assert cut == [[("a.jsonl", 1), ("a.jsonl", 2), ("a.jsonl", 3)],
                   [("b.jsonl", 1), ("b.jsonl", 2), ("b.jsonl", 3), ("b.jsonl", 4)], [("b.jsonl", 5)]]
    assert [n for n, _ in row_batches(items, 4)] == [0, 1, 2]

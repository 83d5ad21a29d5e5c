"""run_explain: counting, skipping finished ids, fail-fast and a requested stop."""

from __future__ import annotations

from saliency_cli.settings import make_settings
from saliency_cli.pipeline import EXIT_INTERRUPTED, EXIT_OK, EXIT_ROWS_FAILED, run_explain
from saliency_cli.records import Review, RowError


def items(n=10):
    return [Review(str(i), f"review {i} is okay", i) for i in range(1, n + 1)]


def test_counts_and_skips_done_ids(tiny_lm):
    written = []
    summary = run_explain(tiny_lm, items(), make_settings(["grad"]), written.append, done={"2", "3"})
    assert (summary.explained, summary.skipped, summary.failed, summary.exit_code) == (8, 2, 0, EXIT_OK)
    assert [group[0].id for group in written] == ["1", "4", "5", "6", "7", "8", "9", "10"]


def test_row_errors_and_fail_fast(tiny_lm):
    rows = items(4)
    rows.insert(1, RowError(2, "x", "broken"))
    errors = []
    summary = run_explain(tiny_lm, rows, make_settings(["grad"]), lambda e: None, on_error=errors.append)
    assert (summary.explained, summary.failed, summary.exit_code) == (4, 1, EXIT_ROWS_FAILED)
    written = []
    summary = run_explain(tiny_lm, rows, make_settings(["grad"], batch_size=1), written.append, fail_fast=True)
    assert summary.stopped_at is not None and summary.exit_code == EXIT_ROWS_FAILED
    assert [g[0].id for g in written] == ["1"]


def test_stop_request_finishes_the_batch_in_progress(tiny_lm):
    written = []
    summary = run_explain(tiny_lm, items(40), make_settings(["grad"], batch_size=2), written.append,
                          should_stop=lambda: bool(written))
    assert summary.interrupted and summary.exit_code == EXIT_INTERRUPTED
    assert len(written) == 2  # the first batch (--batch-size reviews) is finished, nothing after it
    last = []
    done = run_explain(tiny_lm, items(2), make_settings(["grad"], batch_size=2), last.append,
                       should_stop=lambda: bool(last))
    assert not done.interrupted and len(last) == 2  # the stop came with the input already exhausted

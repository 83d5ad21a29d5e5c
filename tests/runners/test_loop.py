"""The run loop over the local runner: counting, skipping finished ids, fail-fast, a requested stop,
and how every sink is told the run ended."""

from __future__ import annotations

import pytest

from saliency_cli.engine import prepare
from saliency_cli.records import ABORTED, COMPLETE, STOPPED, Outcome, Review, RowError
from saliency_cli.runners.local import LocalRunner
from saliency_cli.runners.loop import EXIT_INTERRUPTED, EXIT_OK, EXIT_ROWS_FAILED, run
from saliency_cli.settings import make_settings


class Collect:
    """A sink that keeps what it is given."""

    def __init__(self):
        self.outcomes, self.errors, self.endings = [], [], []

    def add(self, result):
        (self.errors if isinstance(result, RowError) else self.outcomes).append(result)

    def finish(self, ending):
        self.endings.append(ending)


def items(n=10):
    return [Review(str(i), f"review {i} is okay", i) for i in range(1, n + 1)]


def runner(lm, **values):
    return LocalRunner(prepare(lm, make_settings(["grad"], **values)))


def test_counts_and_skips_done_ids(tiny_lm):
    sink = Collect()
    summary = run(runner(tiny_lm), items(), [sink], done={(None, "2"), (None, "3")})
    assert (summary.explained, summary.skipped, summary.failed, summary.exit_code) == (8, 2, 0, EXIT_OK)
    assert [o.review.id for o in sink.outcomes] == ["1", "4", "5", "6", "7", "8", "9", "10"]
    assert sink.endings == [COMPLETE]


def test_row_errors_and_fail_fast(tiny_lm):
    rows = items(4)
    rows.insert(1, RowError(2, "x", "broken"))
    sink = Collect()
    summary = run(runner(tiny_lm), rows, [sink])
    assert (summary.explained, summary.failed, summary.exit_code) == (4, 1, EXIT_ROWS_FAILED)
    assert [e.id for e in sink.errors] == ["x"]
    sink = Collect()
    summary = run(runner(tiny_lm, batch_size=1), rows, [sink], fail_fast=True)
    assert summary.stopped_at is not None and summary.exit_code == EXIT_ROWS_FAILED
    assert [o.review.id for o in sink.outcomes] == ["1"]
    assert sink.endings == [COMPLETE]  # --fail-fast finishes the files: the rows before it are whole


def test_stop_request_finishes_the_batch_in_progress(tiny_lm):
    sink = Collect()
    summary = run(runner(tiny_lm, batch_size=2), items(40), [sink], should_stop=lambda: bool(sink.outcomes))
    assert summary.interrupted and summary.exit_code == EXIT_INTERRUPTED
    assert len(sink.outcomes) == 2  # the first batch (--batch-size reviews) is finished, nothing after it
    assert sink.endings == [STOPPED]
    last = Collect()
    done = run(runner(tiny_lm, batch_size=2), items(2), [last], should_stop=lambda: bool(last.outcomes))
    assert not done.interrupted and len(last.outcomes) == 2  # the stop came with the input already exhausted
    assert last.endings == [COMPLETE]


def test_a_stop_inside_the_last_batches_is_an_interruption_not_a_complete_run(tiny_lm):
    """The input may be read to its end before the last batches are answered (Ray reads windows of
    batches): the run is complete only when every row read was answered."""

    class Windowed:
        def __init__(self, inner):
            self.inner = inner

        def results(self, items, should_stop):
            read = list(items)  # the whole input, like a window that reaches its end
            for result in self.inner.results(read, lambda: False):
                yield result
                if should_stop():
                    return

    sink = Collect()
    summary = run(Windowed(runner(tiny_lm, batch_size=2)), items(6), [sink], should_stop=lambda: len(sink.outcomes) >= 3)
    assert summary.interrupted and len(sink.outcomes) == 3 and sink.endings == [STOPPED]


def test_an_exception_aborts_every_sink(tiny_lm):
    class Broken:
        def results(self, items, should_stop):
            yield Outcome(Review("1", "x", 1))
            raise RuntimeError("the runner broke")

    first, second = Collect(), Collect()
    with pytest.raises(RuntimeError, match="the runner broke"):
        run(Broken(), items(3), [first, second])
    assert first.endings == second.endings == [ABORTED] and len(first.outcomes) == 1


def test_resume_skips_reviews_by_file_and_id(tiny_lm):
    reviews = [Review("1", "fine", 1, "a.jsonl"), Review("2", "good", 2, "a.jsonl"), Review("1", "bad", 1, "b.jsonl")]
    sink = Collect()
    summary = run(runner(tiny_lm), reviews, [sink], done={("a.jsonl", "1")})
    assert [(o.review.source, o.review.id) for o in sink.outcomes] == [("a.jsonl", "2"), ("b.jsonl", "1")]
    assert (summary.skipped, summary.explained) == (1, 2)
    sink = Collect()  # a record without a source (an older file) stands for its id in any file
    assert run(runner(tiny_lm), reviews, [sink], done={(None, "1")}).skipped == 2

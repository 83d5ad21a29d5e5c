"""The local runner: reviews stream through the engine's per-batch core into a writer; row errors
are counted, not fatal.

``run_explain`` is the plain function behind ``saliency-cli explain``; the CLI only parses flags,
prints and maps the summary to an exit code. ``explain_reviews`` is the in-memory variant behind
the Python API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from saliency_cli.engine import Outcome, explain_batch, prepare
from saliency_cli.model import LoadedModel
from saliency_cli.records import Explanation, Review, RowError
from saliency_cli.settings import Settings

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_ROWS_FAILED = 3
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class RunSummary:
    """How a run ended: rows explained, skipped by --resume, failed; whether it stopped early."""

    explained: int
    skipped: int
    failed: int
    truncated: int
    interrupted: bool
    stopped_at: RowError | None = None

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.failed or self.stopped_at is not None:
            return EXIT_ROWS_FAILED
        return EXIT_OK


def explain_stream(
    lm: LoadedModel,
    reviews: Iterable[Review | RowError],
    settings: Settings,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[Outcome | RowError]:
    """Explain a stream of reviews; yields one Outcome or RowError per input item, in input order.

    Reviews go to the core in batches of at most ``settings.batch_size`` input rows (aligned to row
    numbers, see ``_block``), and each batch's results are yielded as soon as it is done, so memory
    does not grow with the input and an interruption loses at most one batch. When ``should_stop()`` turns true, the batch in progress is finished and yielded,
    then it stops.
    """
    ctx = prepare(lm, settings)
    size = settings.batch_size
    pending: list[Review | RowError] = []
    for item in reviews:
        if pending and _block(item, size) != _block(pending[-1], size):
            yield from explain_batch(ctx, pending)
            pending = []
        if not pending and should_stop():
            return
        pending.append(item)
        if len(pending) >= size or item.row % size == 0:
            yield from explain_batch(ctx, pending)
            pending = []
    if pending:
        yield from explain_batch(ctx, pending)


def _block(item: Review | RowError, size: int) -> int:
    """Batches are aligned to input rows (rows 1..size, size+1..2 size, ...), so a run resumed after an
    interruption redoes the same batches, with the same reviews together, as an uninterrupted run."""
    return (item.row - 1) // size


def explain_reviews(lm: LoadedModel, reviews: Iterable[Review], settings: Settings) -> list[Explanation]:
    """Explain reviews in memory; raises ValueError on the first row that cannot be explained."""
    out: list[Explanation] = []
    for res in explain_stream(lm, reviews, settings):
        if isinstance(res, RowError):
            raise ValueError(f"row {res.row} (id {res.id}): {res.error}")
        out.extend(res.explanations)
    return out


def _skip_done(
    items: Iterable[Review | RowError], done: set[str], skipped: list[int], exhausted: list[bool]
) -> Iterable[Review | RowError]:
    for item in items:
        if isinstance(item, Review) and item.id in done:
            skipped[0] += 1
            continue
        yield item
    exhausted[0] = True


def run_explain(
    lm: LoadedModel,
    items: Iterable[Review | RowError],
    settings: Settings,
    write: Callable[[list[Explanation]], None],
    *,
    done: set[str] | None = None,
    on_error: Callable[[RowError], None] = lambda err: None,
    on_outcome: Callable[[Outcome], None] = lambda outcome: None,
    should_stop: Callable[[], bool] = lambda: False,
    fail_fast: bool = False,
) -> RunSummary:
    """Explain every review, writing each one's explanations as soon as it (and all before it) is done."""
    skipped = [0]
    exhausted = [False]
    stream = explain_stream(lm, _skip_done(items, done or set(), skipped, exhausted), settings, should_stop)
    explained, failed, truncated, stopped_at = consume(stream, write, on_error, on_outcome, fail_fast)
    interrupted = stopped_at is None and not exhausted[0] and should_stop()
    return RunSummary(explained, skipped[0], failed, truncated, interrupted, stopped_at)


def consume(
    stream: Iterator[Outcome | RowError],
    write: Callable[[list[Explanation]], None],
    on_error: Callable[[RowError], None],
    on_outcome: Callable[[Outcome], None],
    fail_fast: bool,
) -> tuple[int, int, int, RowError | None]:
    """Drain a runner's results in input order into the writer and callbacks (any runner: local or
    Ray); returns (explained, failed, truncated, the row --fail-fast stopped at). Closes the stream."""
    explained = failed = truncated = 0
    try:
        for result in stream:
            if isinstance(result, RowError):
                failed += 1
                on_error(result)
                if fail_fast:
                    return explained, failed, truncated, result
            else:
                write(result.explanations)
                explained += 1
                truncated += int(result.truncated)
                on_outcome(result)
    finally:
        stream.close()
    return explained, failed, truncated, None

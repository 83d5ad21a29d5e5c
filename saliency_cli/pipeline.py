"""One explain run: reviews stream through the engine into a writer; row errors are counted, not fatal.

This is the plain function behind ``saliency-cli explain``; the CLI only parses flags, prints and
maps the summary to an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from saliency_cli.engine import EngineSettings, Outcome, explain_stream
from saliency_cli.model import LoadedModel
from saliency_cli.records import Explanation, Review, RowError

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
    settings: EngineSettings,
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
    explained = failed = truncated = 0
    stopped_at: RowError | None = None
    interrupted = False
    stream = explain_stream(lm, _skip_done(items, done or set(), skipped, exhausted), settings, should_stop)
    try:
        for result in stream:
            if isinstance(result, RowError):
                failed += 1
                on_error(result)
                if fail_fast:
                    stopped_at = result
                    break
            else:
                write(result.explanations)
                explained += 1
                truncated += int(result.truncated)
                on_outcome(result)
        interrupted = stopped_at is None and not exhausted[0] and should_stop()
    finally:
        stream.close()
    return RunSummary(explained, skipped[0], failed, truncated, interrupted, stopped_at)

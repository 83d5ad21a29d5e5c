"""The one run loop: any runner's results, in input order, into every sink; rows ``--resume`` finds
done are skipped; counts, the stop request, and how the run ended, told to each sink once.

The first Ctrl-C (``StopFlag``) asks for a stop after the batch in progress: every finished row is
kept and the sinks finish as ``STOPPED`` (a partial file waits for ``--resume``). A second Ctrl-C
raises KeyboardInterrupt at once; any exception likewise ends the run as ``ABORTED``.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

from saliency_cli.records import ABORTED, COMPLETE, STOPPED, Key, Outcome, Review, RowError, Sink, is_done
from saliency_cli.runners import Runner

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


class SkipDone:
    """The input items less the reviews already done; counts them and notes when the input ran out.

    A runner iterates it; a runner whose workers read the input files themselves (``--engine ray``)
    takes ``files`` (the input's, when it came from files) and ``done``, and tells what they read
    with ``read_elsewhere``."""

    def __init__(self, items: Iterable[Review | RowError], done: set[Key] | frozenset[Key]):
        self.items, self.done = items, done
        self.files = getattr(items, "files", ())
        self.skipped = self.passed = 0
        self.exhausted = False

    def __iter__(self) -> Iterator[Review | RowError]:
        for item in self.items:
            if isinstance(item, Review) and is_done(self.done, item.source, item.id):
                self.skipped += 1
                continue
            self.passed += 1
            yield item
        self.exhausted = True

    def read_elsewhere(self, skipped: int, passed: int, exhausted: bool) -> None:
        """Counts of a read done by workers: rows skipped, items passed on, and whether it ran to the end."""
        self.skipped, self.passed, self.exhausted = skipped, passed, exhausted


def run(runner: Runner, items: Iterable[Review | RowError], sinks: Sequence[Sink], *,
        done: set[Key] | frozenset[Key] = frozenset(), fail_fast: bool = False,
        should_stop: Callable[[], bool] = lambda: False) -> RunSummary:
    """Every result of ``runner`` on ``items`` (less ``done``) into every sink, in input order; each
    sink is finished once: ``COMPLETE``, ``STOPPED`` (a stop request) or ``ABORTED`` (an exception)."""
    source = SkipDone(items, done)
    ending = ABORTED
    try:
        explained, failed, truncated, stopped_at = _drain(runner.results(source, should_stop), sinks, fail_fast)
        answered_all = source.exhausted and explained + failed == source.passed
        interrupted = stopped_at is None and not answered_all
        ending = STOPPED if interrupted else COMPLETE
    finally:
        for sink in sinks:
            sink.finish(ending)
    return RunSummary(explained, source.skipped, failed, truncated, interrupted, stopped_at)


def _drain(stream: Iterator[Outcome | RowError], sinks: Sequence[Sink],
           fail_fast: bool) -> tuple[int, int, int, RowError | None]:
    """(explained, failed, truncated, the row --fail-fast stopped at); closes the stream."""
    explained = failed = truncated = 0
    try:
        for result in stream:
            for sink in sinks:
                sink.add(result)
            if isinstance(result, RowError):
                failed += 1
                if fail_fast:
                    return explained, failed, truncated, result
            else:
                explained += 1
                truncated += int(result.truncated)
    finally:
        stream.close()
    return explained, failed, truncated, None


class StopFlag:
    """First Ctrl-C asks for a clean stop after the current batch (``on_first`` is told); a second
    one raises KeyboardInterrupt at once. Use as a context manager around ``run``."""

    def __init__(self, on_first: Callable[[], None] = lambda: None) -> None:
        self.requested = False
        self._on_first = on_first
        self._previous = None

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self._on_first()

    def __enter__(self) -> "StopFlag":
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)

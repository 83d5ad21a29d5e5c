"""Runners: which process calls the engine's per-batch core on which batch.

A runner takes a stream of input items (``Review`` or a reader's ``RowError``) and gives back one
``Outcome`` or ``RowError`` per item, in input order, from batches cut at input rows by
``batches.row_batches`` (so every runner puts the same reviews together and gets the same scores).
``local.LocalRunner`` calls the core in this process; ``ray.driver.RayRunner`` ships the batches to
a Ray Data actor pool. ``loop.run`` drives any runner into the sinks: the one run loop.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Protocol

from saliency_cli.records import Outcome, Review, RowError


class Runner(Protocol):
    """Explains a stream of input items, one result per item, in input order."""

    def results(self, items: Iterable[Review | RowError],
                should_stop: Callable[[], bool]) -> Iterator[Outcome | RowError]:
        """Results batch by batch; once ``should_stop()`` is true, the batch in progress is finished
        and yielded, then it stops. Closing the iterator releases what the runner holds."""
        ...

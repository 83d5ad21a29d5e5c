"""The local runner: batches through the engine's per-batch core in this process.

``LocalRunner`` is the runner behind ``saliency-cli explain``; ``explain_stream`` is the same over a
model and settings, and ``explain_reviews`` the in-memory variant behind the Python API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from saliency_cli.engine import Context, explain_batch, prepare
from saliency_cli.model import LoadedModel
from saliency_cli.records import Explanation, Outcome, Review, RowError
from saliency_cli.runners.batches import row_batches
from saliency_cli.settings import Settings


@dataclass(frozen=True)
class LocalRunner:
    """Explains batch after batch with a prepared context (see ``runners.Runner``). ``in_batch`` is
    told, as the batch in progress advances, how many of its rows' worth of work is done (0 once its
    results are out), so a progress bar moves within a batch."""

    ctx: Context
    in_batch: Callable[[float], None] | None = None

    def results(self, items: Iterable[Review | RowError],
                should_stop: Callable[[], bool] = lambda: False) -> Iterator[Outcome | RowError]:
        for _, batch in row_batches(items, self.ctx.settings.batch_size):
            if should_stop():  # checked once the next batch is read: the end of the input is then known
                return
            tell = self.in_batch
            report = None if tell is None else (lambda done, rows=len(batch): tell(done * rows))
            results = explain_batch(self.ctx, batch, report)
            if tell is not None:
                tell(0.0)
            yield from results


def explain_stream(
    lm: LoadedModel,
    reviews: Iterable[Review | RowError],
    settings: Settings,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[Outcome | RowError]:
    """Explain a stream of reviews; yields one Outcome or RowError per input item, in input order.

    Reviews go to the core in batches of at most ``settings.batch_size`` input rows (aligned to row
    numbers, see ``batches.block``), and each batch's results are yielded as soon as it is done, so
    memory does not grow with the input and an interruption loses at most one batch. When
    ``should_stop()`` turns true, the batch in progress is finished and yielded, then it stops.
    """
    return LocalRunner(prepare(lm, settings)).results(reviews, should_stop)


def explain_reviews(lm: LoadedModel, reviews: Iterable[Review], settings: Settings) -> list[Explanation]:
    """Explain reviews in memory; raises ValueError on the first row that cannot be explained."""
    out: list[Explanation] = []
    for res in explain_stream(lm, reviews, settings):
        if isinstance(res, RowError):
            raise ValueError(f"row {res.row} (id {res.id}): {res.error}")
        out.extend(res.explanations)
    return out

"""One bad row never costs the others: run a group together, and if the model fails on it, member by
member, so only the culprit becomes a row error."""

from __future__ import annotations

from typing import Callable, Iterable, Sequence, TypeVar

from saliency_cli.engine.encoding import Encoded
from saliency_cli.records import RowError, first_line

ROW_FAILURES = (RuntimeError, ValueError, IndexError)  # what a bad row can make the model raise
M = TypeVar("M")
R = TypeVar("R")


def row_error(enc: Encoded, exc: BaseException) -> RowError:
    """The row error of an encoding the model failed on: its first message line."""
    return RowError(enc.review.row, enc.review.id, f"model failed on this row: {first_line(exc)}")


def each_or_alone(members: Sequence[M], work: Callable[[Sequence[M]], Iterable[R]],
                  failed: Callable[[M, BaseException], R], failures: tuple[type[BaseException], ...] = ROW_FAILURES
                  ) -> list[R]:
    """``work(members)``'s results; if it raises one of ``failures``, ``work([m])`` for each member
    alone, with ``failed(m, exc)`` in place of the results of a member that fails on its own."""
    try:
        return list(work(members))
    except failures:
        out: list[R] = []
        for member in members:
            try:
                out.extend(work([member]))
            except failures as exc:
                out.append(failed(member, exc))
        return out

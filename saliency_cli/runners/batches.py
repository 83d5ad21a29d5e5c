"""Batches cut at input rows, the same for every runner and every resumed run."""

from __future__ import annotations

from typing import Iterable, Iterator

from saliency_cli.records import Review, RowError

Batch = tuple[int, list[Review | RowError]]


def block(item: Review | RowError, size: int) -> tuple[str | None, int]:
    """The batch an input row belongs to: rows 1..size, size+1..2 size, ... of its file. So a run
    resumed after an interruption (or a piece of a file read elsewhere) makes the same batches, with
    the same reviews together, as an uninterrupted run; no batch holds rows of two files."""
    return item.source, (item.row - 1) // size


def row_batches(items: Iterable[Review | RowError], size: int) -> Iterator[Batch]:
    """Numbered batches of at most ``size`` input items, aligned to input rows (see ``block``): a batch
    ends at a row that is a multiple of ``size`` or where rows skipped by ``--resume`` cross a boundary."""
    number = 0
    pending: list[Review | RowError] = []
    for item in items:
        if pending and block(item, size) != block(pending[-1], size):
            yield number, pending
            number, pending = number + 1, []
        pending.append(item)
        if len(pending) >= size or item.row % size == 0:
            yield number, pending
            number, pending = number + 1, []
    if pending:
        yield number, pending

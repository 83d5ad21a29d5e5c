"""The Ray Data actor of ``--engine ray``: the model loaded once, the engine's per-batch core per batch.

A pandas batch carries one input item per row: ``batch`` (the run's batch number, aligned to input
rows as in the local runner), ``row`` (the input row number) and ``item`` (the pickled ``Review``
or reader ``RowError``). The actor calls ``explain_batch`` once per batch number, so every batch
holds the same reviews as in a local run and gives the same scores, and answers one row per input
row: ``batch``, ``row``, ``result`` (the pickled ``Outcome`` or ``RowError``; with ``--output-dir``
the Outcome names the part file its records went to, ``Outcome.written``, instead of carrying them).
Any failure is caught per row here: one bad row never fails a block. Filler rows (batch -1) only
pad blocks.
"""

from __future__ import annotations

import os
import pickle
from itertools import groupby
from typing import Any, Iterable, Sequence

from saliency_cli.engine import Context, explain_batch, prepare
from saliency_cli.engine.isolation import each_or_alone
from saliency_cli.model import ModelSpec, quiet_transformers
from saliency_cli.records import Outcome, Review, RowError, first_line
from saliency_cli.settings import Settings

COLUMNS_IN = ("batch", "row", "item")
COLUMNS_OUT = ("batch", "row", "result")


def explain_rows(ctx: Context, items: Sequence[Review | RowError]) -> list[Outcome | RowError]:
    """``explain_batch``, but an unexpected failure of the batch is retried row by row, so only the
    rows that fail alone become RowErrors (the core already isolates model failures; this catches
    anything else)."""
    return each_or_alone(items, lambda some: explain_batch(ctx, some), _failed, failures=(Exception,))


def _failed(item: Review | RowError, exc: BaseException) -> RowError:
    return RowError(item.row, item.id, f"failed on this row: {type(exc).__name__}: {first_line(exc)}")


FILLER = -1  # the batch number of padding rows


def to_frame(batches: Iterable[tuple[int, Sequence[Review | RowError]]], rows: int = 0) -> Any:
    """The pandas block of some batches: one row per input item, then filler rows up to ``rows``.
    Every block has the same number of rows, and ``map_batches`` is given that ``batch_size``
    (Ray requires one with GPUs), so each Ray batch is exactly one block: Ray never cuts one of our
    batches in two."""
    import pandas as pd

    data = [(number, item.row, pickle.dumps(item)) for number, items in batches for item in items]
    data += [(FILLER, FILLER, b"")] * (rows - len(data))
    return pd.DataFrame(data, columns=list(COLUMNS_IN))


def results_of(frame: Any) -> list[Outcome | RowError]:
    """The results a block of the actor's answers holds, in its row order."""
    return [pickle.loads(blob) for blob in frame["result"]]


class Explainer:
    """The callable class on Ray Data's actor pool: ``__init__`` = load + prepare, ``__call__`` =
    explain_batch per batch number of a pandas batch."""

    def __init__(self, model: ModelSpec, settings: Settings, torch_threads: int, parts: Any = None):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch

        torch.set_num_threads(torch_threads)
        quiet_transformers()
        self.ctx = prepare(model.load(), settings)
        self.parts = parts  # a parts.PartSpec: write the block's records there, answer where they went

    def __call__(self, frame: Any) -> Any:
        import pandas as pd

        real = frame[frame["batch"] != FILLER]
        numbers, rows, blobs = real["batch"].tolist(), real["row"].tolist(), real["item"].tolist()
        results: list[Outcome | RowError] = []
        for _, batch in groupby(zip(numbers, rows, blobs), key=lambda r: r[0]):  # one core call per batch
            results.extend(explain_rows(self.ctx, [_load_item(blob, row) for _, row, blob in batch]))
        if self.parts is not None:
            from saliency_cli.runners.ray.parts import stored

            results = stored(self.parts, min(rows), results)
        out = [(number, row, pickle.dumps(result)) for number, row, result in zip(numbers, rows, results)]
        return pd.DataFrame(out, columns=list(COLUMNS_OUT))


def _load_item(blob: bytes, row: int) -> Review | RowError:
    """An input item; one that cannot be unpickled (a version mismatch between nodes) is a RowError."""
    try:
        return pickle.loads(blob)
    except Exception as exc:
        return RowError(row, None, f"cannot read this row on the worker: {first_line(exc)}")


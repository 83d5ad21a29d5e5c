"""The Ray Data actor of ``--engine ray``: the model loaded once per actor for the whole run, the
engine's per-batch core per batch.

A pandas batch is one block of ``reading``: ``block`` (its name), ``batch`` (the run's batch number,
aligned to input rows as in the local runner), ``row`` and ``item`` (the pickled ``Review`` or reader
``RowError``). The actor calls ``explain_batch`` once per batch number, so every batch holds the same
reviews as in a local run and gives the same scores, and answers one row per input row: ``batch``,
``row``, ``result`` (the pickled ``Outcome`` or ``RowError``) and ``extra``. What it keeps of the
records is its ``keep``'s: by default they go back to the driver; with ``--output-dir`` the actor
writes them to the block's part (``parts.PartSpec``) and the Outcome names it (``Outcome.written``);
for ``evaluate`` it tallies them (``Tallied``) and sends the block's tally in ``extra``. Any failure
is caught per row here: one bad row never fails a block. Filler rows (batch -1) only pad blocks.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, replace
from itertools import groupby
from typing import Any, Sequence

from saliency_cli.engine import Context, explain_batch, prepare
from saliency_cli.engine.isolation import each_or_alone
from saliency_cli.model import ModelSpec, quiet_transformers
from saliency_cli.records import Outcome, Review, RowError, first_line
from saliency_cli.settings import Settings

COLUMNS_OUT = ("batch", "row", "result", "extra")
FILLER = -1  # the batch number of padding rows (see reading.COLUMNS)


def explain_rows(ctx: Context, items: Sequence[Review | RowError]) -> list[Outcome | RowError]:
    """``explain_batch``, but an unexpected failure of the batch is retried row by row, so only the
    rows that fail alone become RowErrors (the core already isolates model failures; this catches
    anything else)."""
    return each_or_alone(items, lambda some: explain_batch(ctx, some), _failed, failures=(Exception,))


def _failed(item: Review | RowError, exc: BaseException) -> RowError:
    return RowError(item.row, item.id, f"failed on this row: {type(exc).__name__}: {first_line(exc)}", item.source)


def results_of(frame: Any) -> list[Outcome | RowError]:
    """The results a block of the actor's answers holds, in its row order."""
    return [pickle.loads(blob) for blob in frame["result"]]


def extras_of(frame: Any) -> list[Any]:
    """What the actor sent beside the results of a block (a tally), if anything."""
    return [pickle.loads(blob) for blob in frame["extra"] if blob]


@dataclass(frozen=True)
class Tallied:
    """``evaluate``'s keep: the actor tallies a block's faithfulness and sends the tally, not the records."""

    methods: tuple[str, ...]

    def keep(self, block: str, results: list[Outcome | RowError]) -> tuple[list[Outcome | RowError], Any]:
        from saliency_cli.evaluation.statistics import Tally

        tally = Tally(list(self.methods))
        for result in results:
            tally.add(result)
        return [replace(r, explanations=()) if isinstance(r, Outcome) else r for r in results], tally


def _count_load(loads: Any) -> None:
    """Tell the run's load counter (``loads.LoadCounter``) that this actor loaded the model."""
    if loads is None:
        return
    import ray

    context = ray.get_runtime_context()
    ray.get(loads.loaded.remote(context.get_actor_id(), context.get_node_id(), os.getpid()))


class Explainer:
    """The callable class on Ray Data's actor pool: ``__init__`` = load + prepare (counted), ``__call__``
    = explain_batch per batch number of a block, then the ``keep``'s part."""

    def __init__(self, model: ModelSpec, settings: Settings, torch_threads: int, keep: Any = None,
                 loads: Any = None):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch

        torch.set_num_threads(torch_threads)
        quiet_transformers()
        self.ctx = prepare(model.load(), settings)
        self.keep = keep  # parts.PartSpec, Tallied, or None: the records go back to the driver
        _count_load(loads)

    def __call__(self, frame: Any) -> Any:
        import pandas as pd

        real = frame[frame["batch"] != FILLER]
        numbers, rows, blobs = real["batch"].tolist(), real["row"].tolist(), real["item"].tolist()
        results: list[Outcome | RowError] = []
        for _, batch in groupby(zip(numbers, rows, blobs), key=lambda r: r[0]):  # one core call per batch
            results.extend(explain_rows(self.ctx, [_load_item(blob, row) for _, row, blob in batch]))
        extra = None
        if self.keep is not None and results:
            results, extra = self.keep.keep(str(real["block"].iloc[0]), results)
        out = [(number, row, pickle.dumps(result), pickle.dumps(extra) if i == 0 and extra is not None else b"")
               for i, (number, row, result) in enumerate(zip(numbers, rows, results))]
        return pd.DataFrame(out, columns=list(COLUMNS_OUT))


def _load_item(blob: bytes, row: int) -> Review | RowError:
    """An input item; one that cannot be unpickled (a version mismatch between nodes) is a RowError."""
    try:
        return pickle.loads(blob)
    except Exception as exc:
        return RowError(row, None, f"cannot read this row on the worker: {first_line(exc)}")

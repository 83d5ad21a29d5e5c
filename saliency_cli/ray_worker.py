"""The Ray Data actor of ``--engine ray``: the model loaded once, the engine's per-batch core per batch.

A pandas batch carries one input item per row: ``batch`` (the run's batch number, aligned to input
rows as in the local runner), ``row`` (the input row number) and ``item`` (the pickled ``Review``
or reader ``RowError``). The actor calls ``explain_batch`` once per batch number, so every batch
holds the same reviews as in a local run and gives the same scores, and answers one row per input
row: ``batch``, ``row``, ``result`` (the pickled ``Outcome`` or ``RowError``), ``ok``, and with
``--output-dir`` the ``part`` file its records went to and how many (``records``). Any failure is
caught per row here: one bad row never fails a block. Filler rows (batch -1) only pad blocks.
"""

from __future__ import annotations

import os
import pickle
from itertools import groupby
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from saliency_cli.engine import Context, Outcome, explain_batch, prepare
from saliency_cli.model import quiet_transformers
from saliency_cli.records import Review, RowError, first_line
from saliency_cli.settings import Settings

COLUMNS_IN = ("batch", "row", "item")
COLUMNS_OUT = ("batch", "row", "result", "ok", "part", "records")


@dataclass(frozen=True)
class ModelSpec:
    """How each actor loads the model: the ``--model`` value (None: the embedded one) and its options."""

    name: str | None = None
    device: str = "auto"
    trust_remote_code: bool = False
    max_length: int | None = None

    def load(self) -> Any:
        """The LoadedModel, as ``saliency-cli explain`` loads it locally."""
        from saliency_cli.model import load_model

        return load_model(self.name, device=self.device, trust_remote_code=self.trust_remote_code,
                          max_length=self.max_length)


def explain_rows(ctx: Context, items: Sequence[Review | RowError]) -> list[Outcome | RowError]:
    """``explain_batch``, but an unexpected failure of the batch is retried row by row, so only the
    rows that fail alone become RowErrors."""
    try:
        return explain_batch(ctx, items)
    except Exception:  # the core already isolates model failures; this catches anything else
        out: list[Outcome | RowError] = []
        for item in items:
            try:
                out.extend(explain_batch(ctx, [item]))
            except Exception as exc:
                out.append(RowError(item.row, item.id, f"failed on this row: {type(exc).__name__}: {first_line(exc)}"))
        return out


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
        self.parts = parts  # a ray_parts.PartSpec: write the block's records here, answer counts only

    def __call__(self, frame: Any) -> Any:
        import pandas as pd

        real = frame[frame["batch"] != FILLER]
        numbers, rows, blobs = real["batch"].tolist(), real["row"].tolist(), real["item"].tolist()
        results: list[Outcome | RowError] = []
        for _, batch in groupby(zip(numbers, rows, blobs), key=lambda r: r[0]):  # one core call per batch
            results.extend(explain_rows(self.ctx, [_load_item(blob, row) for _, row, blob in batch]))
        part = ""
        if self.parts is not None:
            from saliency_cli.ray_parts import write_part

            done = [e for r in results if isinstance(r, Outcome) for e in r.explanations]
            part = write_part(self.parts, min(rows), done) if done else ""  # no rows: no records
        out = []
        for number, row, result in zip(numbers, rows, results):
            ok = isinstance(result, Outcome)
            records = len(result.explanations) if ok else 0
            if ok and self.parts is not None:  # the records are in the part: send back only what counts them
                result = Outcome(Review(result.review.id, "", result.review.row), [], result.truncated)
            out.append((number, row, pickle.dumps(result), ok, part if ok else "", records))
        return pd.DataFrame(out, columns=list(COLUMNS_OUT))


def _load_item(blob: bytes, row: int) -> Review | RowError:
    """An input item; one that cannot be unpickled (a version mismatch between nodes) is a RowError."""
    try:
        return pickle.loads(blob)
    except Exception as exc:
        return RowError(row, None, f"cannot read this row on the worker: {first_line(exc)}")


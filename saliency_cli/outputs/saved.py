"""Reading saved results back: :func:`read_results` is the one reader of saved ``explain`` output:
results JSONL (see README "Output schema"), the long-form CSV (``--level token`` or ``word``), told
apart by the first line, and Parquet (``outputs.parquet``), told by its magic bytes.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, TextIO

from saliency_cli.outputs.paths import OutputError
from saliency_cli.outputs.saved_csv import OnError, csv_columns, csv_records, tell
from saliency_cli.records import SCHEMA_VERSION, Explanation, RowError

STDIN = "-"
PARQUET_MAGIC = b"PAR1"


@contextmanager
def _open_lines(source: str | os.PathLike[str]) -> Iterator[TextIO]:
    """The lines of a file, or of stdin (as UTF-8) for ``-``; line ends kept as they are (CSV needs that)."""
    if str(source) != STDIN:
        with open(source, encoding="utf-8", newline="") as fh:
            yield fh
        return
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        yield sys.stdin
        return
    wrapper = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    try:
        yield wrapper
    finally:
        wrapper.detach()  # leave sys.stdin open


def _parquet_source(source: str | os.PathLike[str]) -> Any:
    """The file (or stdin's bytes) to read as Parquet when it starts with Parquet's magic bytes, else None."""
    if str(source) != STDIN:
        with open(source, "rb") as fh:
            return source if fh.read(4) == PARQUET_MAGIC else None
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None or not hasattr(buffer, "peek") or buffer.peek(4)[:4] != PARQUET_MAGIC:
        return None
    return io.BytesIO(buffer.read())  # Parquet's footer is at the end: stdin is read whole


def _parquet_records(source: Any, name: str, on_error: OnError | None) -> Iterator[Explanation]:
    from saliency_cli.outputs.parquet import read_records

    try:
        for number, record in enumerate(read_records(source), start=1):
            try:
                yield _explanation(record, f"{name}: record {number} is")
            except ValueError as exc:
                tell(exc, on_error)
    except OutputError as exc:  # pyarrow is not installed
        raise ValueError(str(exc)) from None


def _parse(line: str, where: str) -> Explanation | RowError:
    """One JSONL record; ValueError starting with ``where`` if it is not a result or error record."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if "error" in record and "method" not in record:
        return RowError(int(record.get("row") or 0), record.get("id"), str(record["error"]))
    schema = record.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise ValueError(f"{where}: unsupported schema version {schema!r} (expected {SCHEMA_VERSION})")
    return _explanation(record, f"{where}:")


def _explanation(record: dict[str, Any], where: str) -> Explanation:
    """The record as an Explanation; ValueError ``<where> not an explanation record: <why>`` if it is not one."""
    try:
        return Explanation.from_dict(record)
    except (KeyError, TypeError, ValueError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(f"{where} not an explanation record: {what}") from None


def _jsonl_records(lines: Iterable[str], source_name: str, on_error: OnError | None) -> Iterator[Explanation | RowError]:
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = _parse(line, f"{source_name}:{lineno}")
        except ValueError as exc:
            tell(exc, on_error)
            continue
        yield record


def _records(lines: Iterable[str], source_name: str, on_error: OnError | None) -> Iterator[Explanation | RowError]:
    it = iter(lines)
    first = next(it, None)
    if first is None:
        return
    lines = itertools.chain([first], it)
    columns = csv_columns(first)
    if columns is not None:
        yield from csv_records(lines, columns, source_name, on_error)
    else:
        yield from _jsonl_records(lines, source_name, on_error)


def read_results(
    source: str | os.PathLike[str] | Iterable[str], source_name: str | None = None, on_error: OnError | None = None
) -> Iterator[Explanation | RowError]:
    """Records of saved ``explain`` results (JSONL or CSV), one at a time, in order.

    ``source`` is a path, ``-`` for stdin, or any iterable of lines.  Errors name
    ``source_name:line`` (``source_name`` defaults to the path, ``<stdin>`` or ``<input>``).

    **Parquet** (a file starting with ``PAR1``; needs pyarrow): one :class:`Explanation` per row, as
    from its JSONL record; errors name ``source_name`` and the record's number.

    **JSONL** (README "Output schema"): blank lines are skipped; ``{"row", "id", "error"}``
    records yield :class:`RowError`, the others :class:`Explanation`.  A line that is not JSON,
    not an object, of another schema version or missing fields raises ``ValueError``.

    **CSV**: a source whose first line is exactly the header ``explain`` writes with
    ``--level token`` (:data:`~saliency_cli.outputs.writers.TOKEN_COLUMNS`) or ``--level word``
    (:data:`~saliency_cli.outputs.writers.WORD_COLUMNS`) is read as that CSV.  Each run of consecutive
    rows with the same ``(id, method, target)`` yields one :class:`Explanation`, in file order;
    rows keep their file order.  The CSV does not carry everything the JSONL does, so:

    * ``text`` is rebuilt from the spans: each word (word level) or each non-special token
      without its ``##``/``\u0120``/``\u2581`` marker (token level) at its ``[start, end)``
      offsets, spaces in the gaps, ending at the last span.  A token whose text does not fill its
      span (a lower-cased or byte-level token of another length) shows as U+FFFD characters;
      original line breaks and repeated spaces become single-width spaces.
    * Word level: ``words`` are the rows (``text[start:end] == word``), ``tokens`` is empty.
      Token level: ``tokens`` are all the rows (special ones too, kept out of ``text``) and
      ``words`` are the non-special, non-empty tokens one for one, each word being its span of the
      rebuilt text and keeping the token's score (tokens are not merged into words).
    * ``prediction`` is ``Prediction(predicted, -1, {predicted: probability})``, ``target`` is
      ``Target(target, -1)``, ``model`` is ``""``, ``row`` is None, ``params`` is
      :data:`CSV_PARAMS` (``{"source": "csv"}``; see :func:`is_from_csv`, :func:`csv_note`) and
      the other fields keep their defaults (no delta, not truncated).

    Blank lines are skipped.  A row with the wrong number of fields, a position, start or end that
    is not a non-negative integer, an end before its start, a probability or score that is not a
    number, a special flag other than 0/1, a word that does not fit its span, a prediction that
    changes within one explanation, or broken quoting raises ``ValueError`` naming the row's line.

    With ``on_error``, a malformed line is not raised but handed to ``on_error`` and skipped, and
    reading goes on (a malformed CSV row costs its whole explanation; broken quoting, the rest of
    the file). A labelled run's CSV has a ``label`` column last; its records get ``label``.
    """
    if isinstance(source, (str, os.PathLike)):
        name = source_name or ("<stdin>" if str(source) == STDIN else str(source))
        parquet = _parquet_source(source)
        if parquet is not None:
            yield from _parquet_records(parquet, name, on_error)
            return
        with _open_lines(source) as fh:
            yield from _records(fh, name, on_error)
    else:
        yield from _records(source, source_name or "<input>", on_error)

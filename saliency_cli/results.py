"""Reading saved results back: the results reader and the scored spans of one explanation.

:func:`read_results` is the one reader of saved ``explain`` output: results JSONL (see README
"Output schema") and the long-form CSV (``--level token`` or ``word``), told apart by the first
line; :func:`spans` is the one place that decides what a word or token level highlight covers,
shared by the HTML report and the terminal preview.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, TextIO

from saliency_cli.records import SCHEMA_VERSION, Explanation, Prediction, RowError, Target, TokenScore, WordScore
from saliency_cli.writers import TOKEN_COLUMNS, WORD_COLUMNS

LEVELS = ("word", "token")
STDIN = "-"


def check_level(level: str) -> None:
    """Raise ValueError unless ``level`` is one of :data:`LEVELS`."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")


class Span(NamedTuple):
    """A scored stretch ``text[start:end]`` of a review; ``label`` is the word or the token string."""

    start: int
    end: int
    score: float
    label: str


def spans(exp: Explanation, level: str) -> list[Span]:
    """The words (``level="word"``) or non-special, non-empty tokens of ``exp``, by position."""
    if level == "word":
        items = [Span(w.start, w.end, w.score, w.word) for w in exp.words]
    else:
        items = [Span(t.start, t.end, t.score, t.token) for t in exp.tokens if not t.special and t.end > t.start]
    items.sort(key=lambda it: (it.start, it.end))
    return items


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


def _parse(line: str, where: str) -> Explanation | RowError:
    """One JSONL record; ValueError starting with ``where`` if it is not a result or error record."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if "error" in record and "method" not in record:
        return RowError(int(record.get("row") or 0), record.get("id"), str(record["error"]))
    schema = record.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise ValueError(f"{where}: unsupported schema version {schema!r} (expected {SCHEMA_VERSION})")
    try:
        return Explanation.from_dict(record)
    except (KeyError, TypeError, ValueError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(f"{where}: not an explanation record: {what}") from None


CSV_PARAMS: Mapping[str, Any] = {"source": "csv"}
"""The ``params`` of an explanation read from CSV (the CSV has no params, model, text or row)."""

_CSV_HEADERS = {",".join(TOKEN_COLUMNS): TOKEN_COLUMNS, ",".join(WORD_COLUMNS): WORD_COLUMNS}
_TOKEN_MARKERS = ("##", "\u0120", "\u2581")  # WordPiece continuation, byte-level BPE space, SentencePiece space
_UNKNOWN_CHAR = "\ufffd"


def is_from_csv(exp: Explanation) -> bool:
    """Whether ``exp`` was read from explain's CSV: its text is rebuilt, its model and row unknown."""
    return dict(exp.params) == CSV_PARAMS and exp.model == ""


def csv_note(exp: Explanation) -> str | None:
    """``"from CSV: text rebuilt from the words"`` (or ``tokens``) for an explanation read from CSV, else None."""
    if not is_from_csv(exp):
        return None
    return f"from CSV: text rebuilt from the {'tokens' if exp.tokens else 'words'}"


def _csv_columns(first_line: str) -> tuple[str, ...] | None:
    """The columns if ``first_line`` is the exact header ``explain`` writes to CSV (a UTF-8 BOM allowed)."""
    return _CSV_HEADERS.get(first_line.removeprefix("\ufeff").rstrip("\r\n"))


def _display(token: str) -> str:
    """A token without its subword marker (``##``, ``\u0120``, ``\u2581``)."""
    for marker in _TOKEN_MARKERS:
        if token.startswith(marker) and len(token) > len(marker):
            return token[len(marker):]
    return token


class _CsvRow(NamedTuple):
    where: str
    key: tuple[str, str, str]  # id, method, target
    predicted: str
    probability: float
    text: str  # the token or word
    start: int
    end: int
    score: float
    special: bool


def _csv_int(value: str, column: str, where: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{where}: {column} must be an integer, not {value!r}") from None
    if number < 0:
        raise ValueError(f"{where}: {column} must not be negative, not {number}")
    return number


def _csv_float(value: str, column: str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{where}: {column} must be a number, not {value!r}") from None


def _csv_row(fields: list[str], columns: tuple[str, ...], where: str) -> _CsvRow:
    """One CSV row, checked; ValueError starting with ``where`` if a field is missing or malformed."""
    if len(fields) != len(columns):
        raise ValueError(f"{where}: expected {len(columns)} CSV fields ({','.join(columns)}), got {len(fields)}")
    row = dict(zip(columns, fields))
    _csv_int(row["position"], "position", where)
    start = _csv_int(row["start"], "start", where)
    end = _csv_int(row["end"], "end", where)
    if end < start:
        raise ValueError(f"{where}: end {end} is before start {start}")
    special = False
    if "special" in row:
        flag = row["special"].strip().lower()
        if flag not in ("0", "1", "false", "true"):
            raise ValueError(f"{where}: special must be 0 or 1, not {row['special']!r}")
        special = flag in ("1", "true")
    return _CsvRow(
        where=where,
        key=(row["id"], row["method"], row["target"]),
        predicted=row["predicted"],
        probability=_csv_float(row["probability"], "probability", where),
        text=row["token"] if "token" in row else row["word"],
        start=start,
        end=end,
        score=_csv_float(row["score"], "score", where),
        special=special,
    )


def _rebuild_text(pieces: Iterable[tuple[int, int, str]]) -> str:
    """Each piece's string at its ``[start, end)`` offsets, spaces in the gaps, up to the last end."""
    pieces = list(pieces)
    chars = [" "] * max((end for _, end, _ in pieces), default=0)
    for start, end, piece in pieces:
        chars[start:end] = piece
    return "".join(chars)


def _csv_explanation(rows: list[_CsvRow], word_level: bool) -> Explanation:
    """The explanation of one (id, method, target) group of CSV rows (see :func:`read_results`)."""
    first = rows[0]
    for row in rows[1:]:
        if (row.predicted, row.probability) != (first.predicted, first.probability):
            raise ValueError(
                f"{row.where}: predicted {row.predicted!r} ({row.probability!r}) differs from "
                f"{first.predicted!r} ({first.probability!r}) on {first.where} of the same explanation"
            )
    tokens: tuple[TokenScore, ...] = ()
    if word_level:
        for row in rows:
            if len(row.text) != row.end - row.start:
                raise ValueError(
                    f"{row.where}: word {row.text!r} ({len(row.text)} characters) does not fit "
                    f"its span [{row.start}, {row.end})"
                )
        text = _rebuild_text((r.start, r.end, r.text) for r in rows)
        for row in rows:
            if text[row.start:row.end] != row.text:
                raise ValueError(f"{row.where}: word {row.text!r} overlaps another word that disagrees with it")
        words = tuple(WordScore(r.text, r.start, r.end, r.score) for r in rows)
    else:
        shown = [r for r in rows if not r.special and r.end > r.start]
        pieces = []
        for row in shown:
            piece = _display(row.text)
            width = row.end - row.start
            pieces.append((row.start, row.end, piece if len(piece) == width else _UNKNOWN_CHAR * width))
        text = _rebuild_text(pieces)
        tokens = tuple(TokenScore(r.text, r.start, r.end, r.score, r.special) for r in rows)
        words = tuple(WordScore(text[r.start:r.end], r.start, r.end, r.score) for r in shown)
    doc_id, method, target = first.key
    return Explanation(
        id=doc_id,
        text=text,
        model="",
        method=method,
        params=dict(CSV_PARAMS),
        prediction=Prediction(first.predicted, -1, {first.predicted: first.probability}),
        target=Target(target, -1),
        tokens=tokens,
        words=words,
        row=None,
    )


def _csv_records(lines: Iterable[str], columns: tuple[str, ...], source_name: str) -> Iterator[Explanation]:
    reader = csv.reader(lines, strict=True)
    word_level = columns == WORD_COLUMNS
    group: list[_CsvRow] = []
    try:
        next(reader)  # the header
        while True:
            where = f"{source_name}:{reader.line_num + 1}"
            fields = next(reader, None)
            if fields is None:
                break
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line
            row = _csv_row(fields, columns, where)
            if group and row.key != group[0].key:
                yield _csv_explanation(group, word_level)
                group = []
            group.append(row)
    except csv.Error as exc:
        raise ValueError(f"{source_name}:{reader.line_num}: not valid CSV ({exc})") from None
    if group:
        yield _csv_explanation(group, word_level)


def _jsonl_records(lines: Iterable[str], source_name: str) -> Iterator[Explanation | RowError]:
    for lineno, line in enumerate(lines, start=1):
        if line.strip():
            yield _parse(line, f"{source_name}:{lineno}")


def _records(lines: Iterable[str], source_name: str) -> Iterator[Explanation | RowError]:
    it = iter(lines)
    first = next(it, None)
    if first is None:
        return
    lines = itertools.chain([first], it)
    columns = _csv_columns(first)
    if columns is not None:
        yield from _csv_records(lines, columns, source_name)
    else:
        yield from _jsonl_records(lines, source_name)


def read_results(
    source: str | os.PathLike[str] | Iterable[str], source_name: str | None = None
) -> Iterator[Explanation | RowError]:
    """Records of saved ``explain`` results (JSONL or CSV), one at a time, in order.

    ``source`` is a path, ``-`` for stdin, or any iterable of lines.  Errors name
    ``source_name:line`` (``source_name`` defaults to the path, ``<stdin>`` or ``<input>``).

    **JSONL** (README "Output schema"): blank lines are skipped; ``{"row", "id", "error"}``
    records yield :class:`RowError`, the others :class:`Explanation`.  A line that is not JSON,
    not an object, of another schema version or missing fields raises ``ValueError``.

    **CSV**: a source whose first line is exactly the header ``explain`` writes with
    ``--level token`` (:data:`~saliency_cli.writers.TOKEN_COLUMNS`) or ``--level word``
    (:data:`~saliency_cli.writers.WORD_COLUMNS`) is read as that CSV.  Each run of consecutive
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
    """
    if isinstance(source, (str, os.PathLike)):
        name = source_name or ("<stdin>" if str(source) == STDIN else str(source))
        with _open_lines(source) as fh:
            yield from _records(fh, name)
    else:
        yield from _records(source, source_name or "<input>")

"""Reading the long-form CSV that ``explain`` writes back into explanations (for ``report``).

CSV rows do not hold the review text or every label's probability: the text is rebuilt from the
spans, and only the predicted label's probability is known (see ``results.read_results``).
"""

from __future__ import annotations

import csv
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple

from saliency_cli.records import Explanation, Prediction, Target, TokenScore, WordScore
from saliency_cli.outputs.formats import LABEL_COLUMN, columns as level_columns

OnError = Callable[[ValueError], None]  # told of a malformed record, which is then skipped


def tell(error: ValueError, on_error: OnError | None) -> None:
    """Raise ``error`` when nobody is to be told of malformed records, else tell ``on_error``."""
    if on_error is None:
        raise error
    on_error(error)

CSV_PARAMS: Mapping[str, Any] = {"source": "csv"}
"""The ``params`` of an explanation read from CSV (the CSV has no params, model, text or row)."""
_CSV_HEADERS = {",".join(cols): cols for cols in (level_columns(level, labelled, sourced) for level in ("token", "word")
                                                  for labelled in (False, True) for sourced in (False, True))}
# with a first source column: an input of several files; with a last label column: --label-field
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


def csv_columns(first_line: str) -> tuple[str, ...] | None:
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
    key: tuple[str | None, str, str, str]  # source, id, method, target
    predicted: str
    probability: float
    text: str  # the token or word
    start: int
    end: int
    score: float
    special: bool
    label: str | None  # the user's label (a labelled run's CSV; "" is read as None)


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
        key=(row.get("source"), row["id"], row["method"], row["target"]),
        predicted=row["predicted"],
        probability=_csv_float(row["probability"], "probability", where),
        text=row["token"] if "token" in row else row["word"],
        start=start,
        end=end,
        score=_csv_float(row["score"], "score", where),
        special=special,
        label=row.get(LABEL_COLUMN) or None,
    )


def _rebuild_text(pieces: Iterable[tuple[int, int, str]]) -> str:
    """Each piece's string at its ``[start, end)`` offsets, spaces in the gaps, up to the last end."""
    pieces = list(pieces)
    chars = [" "] * max((end for _, end, _ in pieces), default=0)
    for start, end, piece in pieces:
        chars[start:end] = piece
    return "".join(chars)


def _csv_explanation(rows: list[_CsvRow], word_level: bool, labelled: bool = False) -> Explanation:
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
    source, doc_id, method, target = first.key
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
        source=source,
        label=first.label,
        labelled=labelled,
    )


def csv_records(lines: Iterable[str], columns: tuple[str, ...], source_name: str,
                on_error: OnError | None = None) -> Iterator[Explanation]:
    """The explanations of explain's CSV, one per run of rows with the same (id, method, target).
    With ``on_error``, a malformed row is handed to it and its explanation left out; broken quoting
    ends the file (see ``saved.read_results``)."""
    reader = csv.reader(lines, strict=True)
    word_level = "word" in columns
    labelled = LABEL_COLUMN in columns
    width = 4 if columns[0] == "source" else 3  # the fields of an explanation's key
    group: list[_CsvRow] = []
    dropped: tuple[str | None, ...] | None = None  # the key of an explanation left out for a malformed row

    def done(rows: list[_CsvRow]) -> Iterator[Explanation]:
        try:
            yield _csv_explanation(rows, word_level, labelled)
        except ValueError as exc:
            tell(exc, on_error)

    try:
        next(reader)  # the header
        while True:
            where = f"{source_name}:{reader.line_num + 1}"
            fields = next(reader, None)
            if fields is None:
                break
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line
            try:
                row = _csv_row(fields, columns, where)
            except ValueError as exc:
                tell(exc, on_error)
                dropped = ((None,) * (4 - width) + tuple(fields[:width])) if len(fields) >= width else None
                if group and group[0].key == dropped:
                    group = []
                continue
            if row.key == dropped:
                continue
            dropped = None
            if group and row.key != group[0].key:
                yield from done(group)
                group = []
            group.append(row)
    except csv.Error as exc:
        tell(ValueError(f"{source_name}:{reader.line_num}: not valid CSV ({exc})"), on_error)
        return
    if group:
        yield from done(group)

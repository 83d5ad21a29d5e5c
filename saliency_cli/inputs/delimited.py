"""CSV and TSV input, read record by record with the physical line of each record.

A malformed record (wrong number of fields, a quote left open) is a row error naming its first
physical line; the lines after that first one are read again as records of their own, so a broken
quote cannot swallow the reviews after it, and every later record keeps its own number and id.
"""

from __future__ import annotations

import codecs
import csv
import io
from itertools import chain
from typing import IO, Iterator

from saliency_cli.inputs.rows import IdTracker, make_review, with_extras
from saliency_cli.inputs.spec import DEFAULT_ID, InputError, InputSpec, header_delimiter
from saliency_cli.records import Review, RowError


def _csv_delimiter(spec: InputSpec, fmt: str, head: bytes, encoding: str) -> str:
    if spec.delimiter:
        return "\t" if spec.delimiter in ("\\t", "tab") else spec.delimiter
    if fmt == "tsv":
        return "\t"
    first = head.removeprefix(codecs.BOM_UTF8).split(b"\n", 1)[0].decode(encoding, "replace")
    return header_delimiter(first, spec.text_field) or ","


def _feed(source: Iterator[str], pending: list[str], taken: list[str]) -> Iterator[str]:
    """Physical lines for ``csv.reader``: those given back first (``pending``, last one first), then
    ``source``; each line handed out is also put in ``taken`` (the lines of the record being read)."""
    keep = taken.append
    while pending:
        line = pending.pop()
        keep(line)
        yield line
    for line in source:
        keep(line)
        yield line


def _first_line_fields(line: str, sep: str) -> list[str]:
    """The fields of one physical line read on its own, leniently (for the id of a malformed record)."""
    try:
        return next(csv.reader([line], delimiter=sep), [])
    except csv.Error:
        return []


def _csv_records(source: Iterator[str], sep: str, encoding: str) -> Iterator[tuple[int, list[str], str | None]]:
    """``(line, fields, None)`` for each record, ``(line, fields of that line, why)`` for a malformed one.

    ``line`` is the physical line (1-based) the record starts on; blank lines are skipped. The first
    record, the header, sets the number of fields: a record of one line with fewer fields is padded with
    "", one with more is malformed. Quotes are read strictly, so a quote left open is
    found where it swallows the next lines; a stray quote inside one line is read leniently, as before.
    A malformed record spanning several lines is reported at its first line, and the lines after that
    are read again as records of their own: one broken quote cannot swallow the rows that follow.
    (A swallowed run of lines is bounded by ``csv.field_size_limit()``, so memory stays small.)
    """
    pending: list[str] = []
    taken: list[str] = []
    reader = csv.reader(_feed(source, pending, taken), delimiter=sep, strict=True)
    width: int | None = None
    line = 1
    while True:
        taken.clear()
        problem: str | None = None
        try:
            fields = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            why = f"bytes are not valid {encoding} ({exc.reason}); pass --encoding if the file uses another encoding"
            yield line, [], why
            return
        except csv.Error as exc:
            fields, problem = [], str(exc)
            if problem.startswith("unexpected end of data"):
                problem = "unclosed quote (the quoted field runs to the end of the file)"
            elif problem.startswith("field larger than field limit"):
                problem = f"a field is longer than {csv.field_size_limit()} characters (is a quote left open?)"
            elif len(taken) > 1:
                problem = (f"unclosed quote (the quoted field opened on this line runs into line "
                           f"{line + len(taken) - 1}, where a quote is followed by more text)")
            else:  # text after a closing quote within one line ('"ab"cd'): read it leniently
                fields, problem = _first_line_fields(taken[0], sep), None
        n = len(taken)
        if problem is None:
            if len(fields) <= 1 and not (fields and fields[0].strip()):
                line += n  # a blank line
                continue
            if width is None:
                width = len(fields)
            elif len(fields) != width:
                if n == 1 and len(fields) < width:
                    fields += [""] * (width - len(fields))
                else:
                    problem = f"wrong number of fields (expected {width}, saw {len(fields)})"
                    if n > 1:
                        problem += f" in a record over lines {line}-{line + n - 1}; is a quote left open?"
            if problem is None:
                yield line, fields, None
                line += n
                continue
        yield line, _first_line_fields(taken[0], sep) if taken else [], problem
        if n > 1:
            pending.extend(reversed(taken[1:]))
            reader = csv.reader(_feed(source, pending, taken), delimiter=sep, strict=True)
        line += 1


def read_csv(
    stream: IO[bytes], spec: InputSpec, fmt: str, head: bytes, encoding: str, ids: IdTracker
) -> Iterator[Review | RowError]:
    """Validate the header now (InputError), then stream the rows record by record."""
    sep = _csv_delimiter(spec, fmt, head, encoding)
    try:
        csv.reader([], delimiter=sep)
    except TypeError:
        raise InputError(f"--delimiter must be a single character, not {sep!r}") from None
    text = io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape", newline="")
    try:
        first = text.readline()
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read the input as {encoding}: {exc.reason}; see --encoding") from None
    records = _csv_records(chain([first.removeprefix("\ufeff")], text), sep, encoding)
    header = next(records, None)
    if header is None:
        raise InputError("the input is empty: no header row found")
    line, columns, problem = header
    if problem is not None:
        raise InputError(f"cannot parse the header (line {line}) as CSV: {problem}")
    missing = [f for f in (spec.text_field, spec.id_field, spec.label_field, spec.rationale_field)
               if f is not None and f not in columns]
    if missing:
        hint = f" (delimiter {sep!r}; set --delimiter if that is wrong)" if len(columns) == 1 else ""
        raise InputError(
            f"column {missing[0]!r} not found; available columns: {', '.join(columns) or '(none)'}{hint}"
        )
    text_at = columns.index(spec.text_field)
    id_field = spec.id_field
    if id_field is None and not spec.row_ids and DEFAULT_ID in columns:
        id_field = DEFAULT_ID
    id_at = None if id_field is None else columns.index(id_field)
    return _csv_rows(records, text_at, id_at, id_field, spec, ids, columns)


def _csv_rows(
    records: Iterator[tuple[int, list[str], str | None]], text_at: int, id_at: int | None, id_field: str | None,
    spec: InputSpec, ids: IdTracker, columns: list[str],
) -> Iterator[Review | RowError]:
    """Reviews numbered by record (header excluded); a malformed record counts, so later rows keep their numbers."""
    row = 0
    for line, fields, problem in records:
        row += 1
        if id_at is None:
            rid: str | None = str(row)
        else:
            rid = fields[id_at] if id_at < len(fields) else ""
            if not rid.strip():
                if problem is None:
                    yield RowError(row, None, f"the id field {id_field!r} is empty")
                    continue
                rid = None
        if problem is not None:
            yield RowError(row, rid, f"malformed CSV at line {line}: {problem}")
            continue
        review = make_review(fields[text_at], rid, row, ids, spec.text_field)
        yield with_extras(review, spec, lambda name: fields[columns.index(name)])

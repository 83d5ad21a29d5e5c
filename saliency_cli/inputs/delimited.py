"""CSV and TSV input, read record by record with the physical line of each record.

A malformed record (wrong number of fields, a quote left open) is a row error naming its first
physical line; the lines after that first one are read again as records of their own, so a broken
quote cannot swallow the reviews after it, and every later record keeps its own number and id.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import deque
from dataclasses import dataclass
from itertools import chain
from typing import IO, Callable, Iterable, Iterator

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


def _csv_records(source: Iterator[str], sep: str, encoding: str, width: int | None = None,
                 line: int = 1) -> Iterator[tuple[int, list[str], str | None]]:
    """``(line, fields, None)`` for each record, ``(line, fields of that line, why)`` for a malformed one.

    ``line`` is the physical line (1-based) the record starts on; blank lines are skipped. The first
    record, the header, sets the number of fields: a record of one line with fewer fields is padded with
    "", one with more is malformed. Quotes are read strictly, so a quote left open is
    found where it swallows the next lines; a stray quote inside one line is read leniently, as before.
    A malformed record spanning several lines is reported at its first line, and the lines after that
    are read again as records of their own: one broken quote cannot swallow the rows that follow.
    (A swallowed run of lines is bounded by ``csv.field_size_limit()``, so memory stays small.)
    A read that starts at a record inside the file passes the header's ``width`` and its first ``line``.
    """
    pending: list[str] = []
    taken: list[str] = []
    reader = csv.reader(_feed(source, pending, taken), delimiter=sep, strict=True)
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


def ascii_compatible(encoding: str) -> bool:
    """Whether line ends and delimiters are the same single bytes as in ASCII (utf-8, latin-1, cp1252,
    ...): lines can then be split as bytes and decoded one by one, and a read can start at any line."""
    sample = "\n\r,;\t|\"ab"
    try:
        return sample.encode(encoding) == sample.encode("ascii")
    except (UnicodeError, LookupError):
        return False


_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")


class Lines:
    """Physical lines of a binary stream as ``csv`` reads them (ending at ``\\n``, ``\\r\\n`` or a lone
    ``\\r``, as ``newline=""`` splits them), decoded one by one; with ``track``, the byte offset of each
    line is kept until ``offset_of`` asks for it (an index of record starts)."""

    def __init__(self, stream: Iterable[bytes], encoding: str, offset: int = 0, line: int = 1, track: bool = False):
        self.stream, self.encoding, self.offset, self.line = stream, encoding, offset, line
        self.starts: deque[tuple[int, int]] | None = deque() if track else None

    def __iter__(self) -> Iterator[str]:
        encoding, starts = self.encoding, self.starts
        for raw in self.stream:
            pieces = _LONE_CR.split(raw) if b"\r" in raw[:-2] else (raw,)
            for piece in pieces:
                if not piece:
                    continue
                if starts is not None:
                    starts.append((self.line, self.offset))
                self.offset += len(piece)
                self.line += 1
                yield piece.decode(encoding, "surrogateescape")

    def offset_of(self, line: int) -> int:
        """The byte offset where physical line ``line`` starts (lines before it are forgotten)."""
        assert self.starts is not None
        while self.starts[0][0] < line:
            self.starts.popleft()
        return self.starts[0][1]


def text_lines(stream: IO[bytes], encoding: str) -> Iterable[str]:
    """The decoded lines ``csv`` reads: split as bytes when the encoding allows it, else by a text wrapper."""
    if ascii_compatible(encoding):
        return Lines(stream, encoding)
    return io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape", newline="")


@dataclass(frozen=True)
class CsvLayout:
    """What the header says: the delimiter, where the text and id are, and how many fields a record has."""

    sep: str
    text_at: int
    id_at: int | None
    width: int
    id_field: str | None = None  # --id-field, or the column DEFAULT_ID when there is one
    columns: tuple[str, ...] = ()


def csv_layout(lines: Iterable[str], spec: InputSpec, fmt: str, head: bytes,
               encoding: str) -> tuple[CsvLayout, Iterator[tuple[int, list[str], str | None]]]:
    """The header checked now (InputError), and the records after it."""
    sep = _csv_delimiter(spec, fmt, head, encoding)
    try:
        csv.reader([], delimiter=sep)
    except TypeError:
        raise InputError(f"--delimiter must be a single character, not {sep!r}") from None
    lines = iter(lines)
    try:
        first = next(lines, "")
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read the input as {encoding}: {exc.reason}; see --encoding") from None
    records = _csv_records(chain([first.removeprefix("\ufeff")], lines), sep, encoding)
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
    id_field = spec.id_field
    if id_field is None and not spec.row_ids and DEFAULT_ID in columns:
        id_field = DEFAULT_ID
    id_at = None if id_field is None else columns.index(id_field)
    layout = CsvLayout(sep, columns.index(spec.text_field), id_at, len(columns), id_field, tuple(columns))
    return layout, records


def read_csv(
    stream: IO[bytes], spec: InputSpec, fmt: str, head: bytes, encoding: str, ids: IdTracker
) -> Iterator[Review | RowError]:
    """Validate the header now (InputError), then stream the rows record by record."""
    layout, records = csv_layout(text_lines(stream, encoding), spec, fmt, head, encoding)
    return _csv_rows(records, layout, spec, ids)


def read_csv_from(lines: Iterable[str], layout: CsvLayout, spec: InputSpec, encoding: str, ids: IdTracker,
                  first_row: int, first_line: int) -> Iterator[Review | RowError]:
    """The rows of a read that starts at a record inside the file (row ``first_row``, on physical line
    ``first_line``), with the header's ``layout``: the same rows, numbers and errors as a whole read."""
    records = _csv_records(iter(lines), layout.sep, encoding, layout.width, first_line)
    return _csv_rows(records, layout, spec, ids, first_row - 1)


def read_csv_noting(records: Iterator[tuple[int, list[str], str | None]], layout: CsvLayout, spec: InputSpec,
                    ids: IdTracker, every: int, note: Callable[[int, int], None]) -> Iterator[Review | RowError]:
    """The rows of ``records`` (the header read), telling ``note(row, line)`` where every ``every``-th
    record starts, as it is read: an index of record starts by the reader itself."""
    def counted() -> Iterator[tuple[int, list[str], str | None]]:
        for row, record in enumerate(records, start=1):
            if row % every == 1 % every:
                note(row, record[0])
            yield record

    return _csv_rows(counted(), layout, spec, ids)


def _csv_rows(
    records: Iterator[tuple[int, list[str], str | None]], layout: CsvLayout, spec: InputSpec, ids: IdTracker,
    row: int = 0,
) -> Iterator[Review | RowError]:
    """Reviews numbered by record (header excluded); a malformed record counts, so later rows keep their numbers."""
    text_at, id_at, id_field, columns = layout.text_at, layout.id_at, layout.id_field, list(layout.columns)
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

"""Read reviews from arguments, stdin, text, CSV/TSV or JSONL as a stream of Review / RowError.

Nothing here holds the whole input: text, JSONL and CSV are read line by line. Problems with one
row become a :class:`RowError` naming the row; problems with the input as a whole (missing file,
unknown column) raise :class:`InputError` before any work starts.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import stat
import sys
from dataclasses import dataclass, replace
from hashlib import blake2b
from itertools import chain
from pathlib import Path
from typing import IO, Iterable, Iterator

from saliency_cli.records import Review, RowError

FORMATS = ("auto", "text", "csv", "tsv", "jsonl")
EXTENSIONS = {".txt": "text", ".text": "text", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
              ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
_SNIFF_BYTES = 65536
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of bytes the encoding rejects


class InputError(Exception):
    """The input cannot be read at all (a user error: exit code 1)."""


@dataclass(frozen=True)
class InputSpec:
    """Where reviews come from and how to read them."""

    path: str | None = None  # "-": stdin
    texts: tuple[str, ...] = ()  # review texts; a single "-" means stdin, as path "-"
    format: str = "auto"
    text_field: str = "text"
    id_field: str | None = None
    encoding: str = "utf-8"
    delimiter: str | None = None


def _stdin_binary() -> IO[bytes]:
    if sys.stdin is None:
        raise InputError("there is no stdin to read reviews from")
    return sys.stdin.buffer


def stdin_is_piped() -> bool:
    """Whether stdin exists and is not a terminal: a pipe, a file or a socket (``/dev/null`` does not count)."""
    stdin = sys.stdin
    if stdin is None or getattr(stdin, "closed", False):
        return False
    try:
        mode = os.fstat(stdin.fileno()).st_mode
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        try:
            return not stdin.isatty()
        except (AttributeError, OSError, ValueError):
            return False
    if stat.S_ISCHR(mode):  # a terminal, or /dev/null when run without input
        return False
    return True


def _check_encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise InputError(f"unknown --encoding {name!r}; try utf-8, utf-8-sig, latin-1 or cp1252") from None


def detect_format(path: str | None, head: bytes, text_field: str) -> str:
    """Format from the file extension, else from content: JSON objects, a header with the field, or text."""
    if path not in (None, "-"):
        ext = Path(path).suffix.lower()
        if ext in EXTENSIONS:
            return EXTENSIONS[ext]
    first = next((ln for ln in head.splitlines() if ln.strip()), b"").lstrip(codecs.BOM_UTF8).strip()
    if first.startswith(b"{"):
        return "jsonl"
    sep = header_delimiter(first.decode("utf-8", "replace"), text_field)
    if sep is None:
        return "text"
    return "tsv" if sep == "\t" else "csv"


def header_delimiter(header: str, field: str) -> str | None:
    """The delimiter (, ; tab |) under which ``header`` has a column named ``field``, if any."""
    for sep in (",", ";", "\t", "|"):
        if field in next(csv.reader([header], delimiter=sep), []):
            return sep
    return None


def _decode(raw: bytes, encoding: str, row: int) -> str | RowError:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        return RowError(
            row,
            None,
            f"bytes are not valid {encoding} (byte 0x{bad} at position {exc.start}); "
            "pass --encoding (e.g. latin-1, cp1252, utf-16) if the file uses another encoding",
        )


class _IdTracker:
    """Remembers ids already seen (as 8-byte digests, to keep memory small) to flag duplicates."""

    def __init__(self) -> None:
        self._seen: dict[bytes, int] = {}

    def check(self, rid: str, row: int) -> RowError | None:
        key = blake2b(rid.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        first = self._seen.setdefault(key, row)
        if first != row:
            return RowError(row, rid, f"duplicate id {rid!r} (first seen at row {first}); ids must be unique")
        return None


def _review(text: object, rid: str, row: int, ids: _IdTracker, field: str) -> Review | RowError:
    if text is None:
        return RowError(row, rid, f"the text field {field!r} is missing or null")
    if not isinstance(text, str):
        return RowError(row, rid, f"the text field {field!r} holds {type(text).__name__}, not a string")
    if _UNDECODABLE.search(text):
        return RowError(row, rid, "the text holds bytes that are not valid in the input encoding; see --encoding")
    if not text.strip():
        return RowError(row, rid, "the review text is empty")
    dup = ids.check(rid, row)
    return dup if dup is not None else Review(id=rid, text=text, row=row)


def _read_text(stream: IO[bytes], encoding: str, ids: _IdTracker) -> Iterator[Review | RowError]:
    for row, raw in enumerate(stream, start=1):
        if row == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8) if encoding.startswith("utf-8") else raw
        line = _decode(raw.rstrip(b"\r\n"), encoding, row)
        if isinstance(line, RowError):
            yield line
            continue
        if not line.strip():
            continue
        yield _review(line, str(row), row, ids, "text")


def _read_jsonl(stream: IO[bytes], spec: InputSpec, encoding: str, ids: _IdTracker) -> Iterator[Review | RowError]:
    for row, raw in enumerate(stream, start=1):
        if row == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8) if encoding.startswith("utf-8") else raw
        line = _decode(raw, encoding, row)
        if isinstance(line, RowError):
            yield line
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RowError(row, None, f"malformed JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            yield RowError(row, None, f"expected a JSON object, got {type(obj).__name__}")
            continue
        rid = str(row)
        if spec.id_field is not None:
            if obj.get(spec.id_field) is None:
                yield RowError(row, None, f"the id field {spec.id_field!r} is missing or null")
                continue
            rid = str(obj[spec.id_field])
        if spec.text_field not in obj:
            yield RowError(row, rid, f"the text field {spec.text_field!r} is missing; fields here: {', '.join(obj)}")
            continue
        yield _review(obj[spec.text_field], rid, row, ids, spec.text_field)


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


def _read_csv(
    stream: IO[bytes], spec: InputSpec, fmt: str, head: bytes, encoding: str, ids: _IdTracker
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
    missing = [f for f in (spec.text_field, spec.id_field) if f is not None and f not in columns]
    if missing:
        hint = f" (delimiter {sep!r}; set --delimiter if that is wrong)" if len(columns) == 1 else ""
        raise InputError(
            f"column {missing[0]!r} not found; available columns: {', '.join(columns) or '(none)'}{hint}"
        )
    text_at = columns.index(spec.text_field)
    id_at = None if spec.id_field is None else columns.index(spec.id_field)
    return _csv_rows(records, text_at, id_at, spec, ids)


def _csv_rows(
    records: Iterator[tuple[int, list[str], str | None]], text_at: int, id_at: int | None, spec: InputSpec,
    ids: _IdTracker,
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
                    yield RowError(row, None, f"the id field {spec.id_field!r} is empty")
                    continue
                rid = None
        if problem is not None:
            yield RowError(row, rid, f"malformed CSV at line {line}: {problem}")
            continue
        yield _review(fields[text_at], rid, row, ids, spec.text_field)


class _Rewound(io.RawIOBase):
    """A binary stream whose first bytes were peeked; replays them, then reads the rest."""

    def __init__(self, head: bytes, rest: IO[bytes]):
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._rest.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def open_reviews(spec: InputSpec) -> Iterator[Review | RowError]:
    """Validate the input now (raising InputError) and return a lazy stream of its reviews."""
    encoding = _check_encoding(spec.encoding)
    if spec.format not in FORMATS:
        raise InputError(f"unknown --format {spec.format!r}; choose from {', '.join(FORMATS)}")
    ids = _IdTracker()
    if spec.path is None and spec.texts == ("-",):
        spec = replace(spec, path="-", texts=())
    if spec.path is None:
        if not spec.texts:
            raise InputError("no reviews given: pass TEXT arguments or --input PATH (- for stdin)")
        return iter([_review(t, str(i), i, ids, "text") for i, t in enumerate(spec.texts, start=1)])
    if spec.path == "-":
        raw = _stdin_binary()
    else:
        path = Path(spec.path)
        if not path.exists():
            raise InputError(f"input file not found: {spec.path}")
        if path.is_dir():
            raise InputError(f"input is a directory, not a file: {spec.path}")
        try:
            raw = path.open("rb")
        except OSError as exc:
            raise InputError(f"cannot open {spec.path}: {exc.strerror}") from None
    head = raw.read(_SNIFF_BYTES)
    stream = io.BufferedReader(_Rewound(head, raw), buffer_size=1 << 16)
    if not head.strip():
        raise InputError(f"the input is empty: {spec.path if spec.path != '-' else 'stdin'}")
    fmt = spec.format if spec.format != "auto" else detect_format(spec.path, head, spec.text_field)
    if fmt == "text":
        return _read_text(stream, encoding, ids)
    if fmt == "jsonl":
        return _check_jsonl_field(_read_jsonl(stream, spec, encoding, ids), spec)
    return _read_csv(stream, spec, fmt, head, encoding, ids)


def _check_jsonl_field(items: Iterator[Review | RowError], spec: InputSpec, probe: int = 100) -> Iterator[Review | RowError]:
    """If none of the first ``probe`` JSON objects has the text field, the field name is wrong: fail now."""
    buffered: list[Review | RowError] = []
    for item in items:
        buffered.append(item)
        if isinstance(item, Review) or len(buffered) >= probe:
            break
    missing = [b for b in buffered if isinstance(b, RowError) and "is missing; fields here:" in b.error]
    if missing and not any(isinstance(b, Review) for b in buffered):
        fields = missing[0].error.split("fields here:", 1)[1].strip()
        raise InputError(f"field {spec.text_field!r} not found in the JSON objects; available fields: {fields}")
    return chain(buffered, items)


def estimate_rows(spec: InputSpec) -> int | None:
    """Rows to expect, for progress display: lines of a file (CSV: minus the header); None for stdin.

    For CSV this over-counts records whose quoted fields hold newlines; good enough for a progress bar.
    """
    if spec.path is None and spec.texts == ("-",):
        return None
    if spec.path is None:
        return len(spec.texts)
    if spec.path == "-":
        return None
    count, last = 0, b"\n"
    with open(spec.path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    count += last != b"\n"
    is_csv = spec.format in ("csv", "tsv") or Path(spec.path).suffix.lower() in (".csv", ".tsv", ".tab")
    return max(0, count - 1) if is_csv else count


def texts_to_reviews(texts: Iterable[str]) -> list[Review]:
    """Reviews with ids "1", "2", ... for in-memory texts (the Python API)."""
    return [Review(id=str(i), text=t, row=i) for i, t in enumerate(texts, start=1)]

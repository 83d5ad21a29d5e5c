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


class _Rewound(io.RawIOBase):
    """A binary stream whose first bytes were peeked; replays them, then reads the rest.
    Closing it closes the rest too when it ``owns`` it (a file we opened, not stdin)."""

    def __init__(self, head: bytes, rest: IO[bytes], owns: bool = True):
        self._head, self._rest, self._owns = head, rest, owns

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self._owns and not self.closed:
            self._rest.close()
        super().close()

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
    stream = io.BufferedReader(_Rewound(head, raw, owns=spec.path != "-"), buffer_size=1 << 16)
    try:
        if not head.strip():
            raise InputError(f"the input is empty: {spec.path if spec.path != '-' else 'stdin'}")
        fmt = spec.format if spec.format != "auto" else detect_format(spec.path, head, spec.text_field)
        if fmt == "text":
            items = _read_text(stream, encoding, ids)
        elif fmt == "jsonl":
            items = _check_jsonl_field(_read_jsonl(stream, spec, encoding, ids), spec)
        else:
            from saliency_cli.csv_input import read_csv

            items = read_csv(stream, spec, fmt, head, encoding, ids)
    except BaseException:
        stream.close()
        raise
    return _closing(items, stream)


def _closing(items: Iterator[Review | RowError], stream: IO[bytes]) -> Iterator[Review | RowError]:
    """``items``, closing the input file once they are read, or when a run that stopped early lets go
    of them (a generator's ``finally`` runs when it is closed or collected)."""
    try:
        yield from items
    finally:
        stream.close()


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

"""Read reviews from arguments, stdin, or files (text, CSV/TSV, JSONL, Parquet; one file, a folder or
a glob) as a stream of Review / RowError.

Nothing here holds the whole input: text, JSONL and CSV are read line by line, Parquet a row group
at a time, files one after another. Problems with one row become a :class:`RowError` naming the row
(and its file); problems with the input as a whole (missing file, unknown column, files of several
formats) raise :class:`InputError` before any work starts.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from dataclasses import replace
from typing import IO, Any, Callable, Iterable, Iterator

from saliency_cli.inputs.delimited import Lines, csv_layout, read_csv, read_csv_from, text_lines
from saliency_cli.inputs.files import InputFile, is_many, is_uri, list_inputs, open_binary
from saliency_cli.inputs.lines import check_jsonl_field, jsonl_ids, read_jsonl, read_text
from saliency_cli.inputs.rows import IdTracker, make_review, no_fields
from saliency_cli.inputs.spec import FORMATS, InputError, InputSpec, check_encoding, detect_format
from saliency_cli.records import Review, RowError

_SNIFF_BYTES = 65536


class EmptyInput(InputError):
    """A file with nothing but blank space (a user error for one file; no rows, for a shard among many)."""


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
        # read1: what the source has now (a pipe's rows as they come), not a wait for len(buf) bytes
        data = self._rest.read1(len(buf)) if hasattr(self._rest, "read1") else self._rest.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class Reviews:
    """The reviews of an input as a lazy stream of ``Review`` / ``RowError`` (iterate it), and, when they
    come from files, those files (``files``), so that workers can read them themselves (``--engine ray``).
    ``many``: the input named a folder or a glob, so records name their file (a CSV ``source`` column)."""

    def __init__(self, items: Iterator[Review | RowError], spec: InputSpec, files: tuple[InputFile, ...] = (),
                 many: bool = False):
        self.items, self.spec, self.files, self.many = items, spec, files, many

    def __iter__(self) -> Iterator[Review | RowError]:
        return self.items

    def __next__(self) -> Review | RowError:
        return next(self.items)

    def close(self) -> None:
        """Close the file being read (a run that reads the files elsewhere lets go of this stream)."""
        close = getattr(self.items, "close", None)
        if close is not None:
            close()


def open_reviews(spec: InputSpec) -> Reviews:
    """Validate the input now (raising InputError; every file's header, for a folder or glob) and return
    a lazy stream of its reviews, file after file."""
    encoding = check_encoding(spec.encoding)
    if spec.format not in FORMATS:
        raise InputError(f"unknown --format {spec.format!r}; choose from {', '.join(FORMATS)}")
    if spec.id_field is not None and spec.row_ids:
        raise InputError("give --id-field NAME or --row-ids, not both")
    if spec.path is None and spec.texts == ("-",):
        spec = replace(spec, path="-", texts=())
    if spec.path is None:
        if not spec.texts:
            raise InputError("no reviews given: pass TEXT arguments or --input PATH (- for stdin)")
        no_fields(spec, "review TEXT arguments")
        ids = IdTracker()
        return Reviews(iter([make_review(t, str(i), i, ids, "text") for i, t in enumerate(spec.texts, start=1)]), spec)
    if spec.path == "-":
        return Reviews(_stdin_reviews(spec, encoding), spec)
    many = is_many(spec.path)
    files = list_inputs(spec.path, spec.format, spec.text_field)
    empty = 0
    for file in files:  # every header checked before any work
        try:
            open_file(file, spec, encoding, IdTracker()).close()
        except EmptyInput:
            if not many:
                raise
            empty += 1  # an empty shard among many holds no rows
        except InputError as exc:
            raise InputError(f"{file.source}: {exc}" if many else str(exc)) from None
    if empty == len(files):
        raise InputError(f"the input is empty: every file of {spec.path} is empty")
    return Reviews(_files_reviews(files, spec, encoding, many), spec, files, many)


def _files_reviews(files: tuple[InputFile, ...], spec: InputSpec, encoding: str,
                   many: bool) -> Iterator[Review | RowError]:
    """The reviews of every file in turn, each file opened when the one before it is done."""
    for file in files:
        yield from open_file(file, spec, encoding, IdTracker(), allow_empty=many)


def _stdin_reviews(spec: InputSpec, encoding: str) -> Iterator[Review | RowError]:
    raw = _stdin_binary()
    head = raw.read(_SNIFF_BYTES)
    stream = io.BufferedReader(_Rewound(head, raw, owns=False), buffer_size=1 << 16)
    if not head.strip():
        raise InputError("the input is empty: stdin")
    fmt = spec.format if spec.format != "auto" else detect_format("-", head, spec.text_field)
    if fmt == "parquet":
        from saliency_cli.inputs.parquet import open_parquet_bytes

        return _read_parquet_whole(open_parquet_bytes(head + raw.read()), spec, None, IdTracker())
    return _read_stream(stream, head, fmt, spec, encoding, IdTracker())


def _read_stream(stream: IO[bytes], head: bytes, fmt: str, spec: InputSpec, encoding: str,
                 ids: IdTracker, cut: Any = None) -> Iterator[Review | RowError]:
    """The reviews of a text, JSONL or CSV stream from its start, or from ``cut`` (a record start
    inside a seekable file: offset, row, line)."""
    if fmt == "text":
        no_fields(spec, "text input")
        if cut is not None:
            stream.seek(cut.offset)
        return read_text(stream, encoding, ids, cut.row if cut else 1)
    if fmt == "jsonl":
        if cut is not None:
            spec = jsonl_ids(stream, spec, encoding)
            stream.seek(cut.offset)
            return read_jsonl(stream, spec, encoding, ids, cut.row)
        seen: set[str] = set()
        return check_jsonl_field(read_jsonl(stream, spec, encoding, ids, seen=seen), spec, seen=seen)
    if cut is None:
        return read_csv(stream, spec, fmt, head, encoding, ids)
    layout, _ = csv_layout(text_lines(stream, encoding), spec, fmt, head, encoding)
    stream.seek(cut.offset)
    return read_csv_from(Lines(stream, encoding, cut.offset, cut.line), layout, spec, encoding, ids, cut.row, cut.line)


def _read_parquet_whole(parquet: Any, spec: InputSpec, cut: Any, ids: IdTracker, last_row: int | None = None,
                        where: str | None = None) -> Iterator[Review | RowError]:
    from saliency_cli.inputs.parquet import check_columns, read_parquet

    check_columns(parquet, spec)
    return read_parquet(parquet, spec, ids, cut.row if cut else 1, last_row, where)


def open_file(file: InputFile, spec: InputSpec, encoding: str, ids: IdTracker, cut: Any = None,
              last_row: int | None = None, allow_empty: bool = False) -> Iterator[Review | RowError]:
    """One file's reviews, tagged with its source, from its start (header checked: InputError) or
    from ``cut`` up to ``last_row``; the file is closed when they are read or let go of."""
    if file.fmt == "parquet":
        from saliency_cli.inputs.parquet import open_parquet

        parquet = open_parquet(file.path)
        items = _read_parquet_whole(parquet, spec, cut, ids, last_row, file.path if last_row is not None else None)
        return _Sourced(items, file.source, last_row, parquet.close)
    stream = open_binary(file.path)
    try:
        head = stream.read(_SNIFF_BYTES)
        if not head.strip():
            if allow_empty:  # an empty shard among many holds no rows
                stream.close()
                return _Sourced(iter(()), file.source, None, lambda: None)
            raise EmptyInput(f"the input is empty: {file.path}")
        stream.seek(0)
        items = _read_stream(stream, head, file.fmt, spec, encoding, ids, cut)
    except BaseException:
        stream.close()
        raise
    return _Sourced(items, file.source, last_row, stream.close)


class _Sourced:
    """One file's items named by their file, up to ``last_row``; ``close`` (the file's) runs once they
    are read, when this is closed, or when a run that stopped early lets go of it."""

    def __init__(self, items: Iterator[Review | RowError], source: str, last_row: int | None,
                 close: Callable[[], None]):
        self._items, self._source, self._last_row, self._close = items, source, last_row, close

    def __iter__(self) -> Iterator[Review | RowError]:
        return self

    def __next__(self) -> Review | RowError:
        try:
            item = next(self._items)
        except BaseException:  # the end, or a failure: the file is done with either way
            self.close()
            raise
        if self._last_row is not None and item.row > self._last_row:
            self.close()
            raise StopIteration
        return replace(item, source=self._source)

    def close(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()

    __del__ = close


def estimate_rows(spec: InputSpec) -> int | None:
    """Rows to expect, for progress display: lines of each file (CSV: minus the header; Parquet: its
    footer's count); None for stdin and URIs.

    For CSV this over-counts records whose quoted fields hold newlines; good enough for a progress bar.
    """
    if spec.path is None and spec.texts == ("-",):
        return None
    if spec.path is None:
        return len(spec.texts)
    if spec.path == "-" or is_uri(spec.path):
        return None
    try:
        files = list_inputs(spec.path, spec.format, spec.text_field)
    except InputError:
        return None
    return sum(_file_rows(f) for f in files)


def _file_rows(file: InputFile) -> int:
    if file.fmt == "parquet":
        from saliency_cli.inputs.parquet import open_parquet, parquet_rows

        return parquet_rows(open_parquet(file.path))
    count, last = 0, b"\n"
    with open(file.path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    count += last != b"\n"
    return max(0, count - 1) if file.fmt in ("csv", "tsv") else count


def texts_to_reviews(texts: Iterable[str]) -> list[Review]:
    """Reviews with ids "1", "2", ... for in-memory texts (the Python API)."""
    return [Review(id=str(i), text=t, row=i) for i, t in enumerate(texts, start=1)]


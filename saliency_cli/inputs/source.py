"""Read reviews from arguments, stdin, text, CSV/TSV or JSONL as a stream of Review / RowError.

Nothing here holds the whole input: text, JSONL and CSV are read line by line. Problems with one
row become a :class:`RowError` naming the row; problems with the input as a whole (missing file,
unknown column) raise :class:`InputError` before any work starts.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from dataclasses import replace
from pathlib import Path
from typing import IO, Iterable, Iterator

from saliency_cli.inputs.delimited import read_csv
from saliency_cli.inputs.lines import check_jsonl_field, read_jsonl, read_text
from saliency_cli.inputs.rows import IdTracker, make_review
from saliency_cli.inputs.spec import FORMATS, InputError, InputSpec, check_encoding, detect_format
from saliency_cli.records import Review, RowError

_SNIFF_BYTES = 65536



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



def open_reviews(spec: InputSpec) -> Iterator[Review | RowError]:
    """Validate the input now (raising InputError) and return a lazy stream of its reviews."""
    encoding = check_encoding(spec.encoding)
    if spec.format not in FORMATS:
        raise InputError(f"unknown --format {spec.format!r}; choose from {', '.join(FORMATS)}")
    if spec.id_field is not None and spec.row_ids:
        raise InputError("give --id-field NAME or --row-ids, not both")
    ids = IdTracker()
    if spec.path is None and spec.texts == ("-",):
        spec = replace(spec, path="-", texts=())
    if spec.path is None:
        if not spec.texts:
            raise InputError("no reviews given: pass TEXT arguments or --input PATH (- for stdin)")
        _no_fields(spec, "review TEXT arguments")
        return iter([make_review(t, str(i), i, ids, "text") for i, t in enumerate(spec.texts, start=1)])
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
            _no_fields(spec, "text input")
            items = read_text(stream, encoding, ids)
        elif fmt == "jsonl":
            seen: set[str] = set()
            items = check_jsonl_field(read_jsonl(stream, spec, encoding, ids, seen), spec, seen=seen)
        else:
            items = read_csv(stream, spec, fmt, head, encoding, ids)
    except BaseException:
        stream.close()
        raise
    return _closing(items, stream)



def _no_fields(spec: InputSpec, what: str) -> None:
    """A label or rationale field needs an input with fields (CSV or JSONL): InputError otherwise."""
    for flag, name in (("--label-field", spec.label_field), ("--rationale-field", spec.rationale_field)):
        if name is not None:
            raise InputError(f"{flag} {name!r} needs CSV or JSONL input with that column or key, not {what}")


def _closing(items: Iterator[Review | RowError], stream: IO[bytes]) -> Iterator[Review | RowError]:
    """``items``, closing the input file once they are read, or when a run that stopped early lets go
    of them (a generator's ``finally`` runs when it is closed or collected)."""
    try:
        yield from items
    finally:
        stream.close()



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


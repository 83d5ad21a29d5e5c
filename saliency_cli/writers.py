"""Streaming JSONL / CSV writers with an atomic finish and ``--resume`` support. No tensors here.

A file output is written to ``<path>.partial`` and renamed to ``<path>`` when the run finishes, so a
reader never sees a half-written result under the final name. All records of one review are written
with one ``write`` call on an append-only descriptor, so a crash leaves whole reviews plus at most
one torn line; resuming drops the torn line and the last batch (it may be incomplete) and redoes it
(see ``partial.py``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import IO, Sequence

from saliency_cli.outputs import OutputError, check_writable, is_special, is_stdout
from saliency_cli.partial import Check, scan_existing
from saliency_cli.records import Explanation, RowError

OUTPUT_FORMATS = ("jsonl", "csv")
LEVELS = ("token", "word")
TOKEN_COLUMNS = ("id", "method", "target", "predicted", "probability", "position", "token", "start", "end", "score", "special")
WORD_COLUMNS = ("id", "method", "target", "predicted", "probability", "position", "word", "start", "end", "score")


def output_format(path: str | None, fmt: str | None) -> str:
    """The explicit format, else from the extension (``.csv`` = csv), else JSONL."""
    if fmt:
        if fmt not in OUTPUT_FORMATS:
            raise OutputError(f"unknown --output-format {fmt!r}; choose from {', '.join(OUTPUT_FORMATS)}")
        return fmt
    if path and path != "-" and Path(path).suffix.lower() == ".csv":
        return "csv"
    return "jsonl"


def jsonl_lines(explanations: Sequence[Explanation]) -> str:
    """One JSON object per line, non-ASCII kept as is."""
    return "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in explanations)


def csv_rows(explanations: Sequence[Explanation], level: str) -> list[list[object]]:
    """Long-form rows: one per token (or word) of each explanation."""
    rows: list[list[object]] = []
    for e in explanations:
        prob = round(float(e.prediction.probs.get(e.prediction.label, 0.0)), 6)
        head = [e.id, e.method, e.target.label, e.prediction.label, prob]
        if level == "word":
            rows.extend(head + [i, w.word, w.start, w.end, w.score] for i, w in enumerate(e.words))
        else:
            rows.extend(
                head + [i, t.token, t.start, t.end, t.score, int(t.special)] for i, t in enumerate(e.tokens)
            )
    return rows


def _csv_text(rows: Sequence[Sequence[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


class ResultWriter:
    """Writes each review's explanations as one block.

    ``-`` is stdout; a device, FIFO or other non-regular file is written in place; a regular file is
    written to ``<path>.partial`` and renamed on a complete run (kept for ``--resume`` otherwise).
    """

    def __init__(self, path: str | None, fmt: str, level: str = "token", resume: bool = False,
                 check: Check | None = None, batch_size: int | None = None):
        if level not in LEVELS:
            raise OutputError(f"unknown --level {level!r}; choose from {', '.join(LEVELS)}")
        self.fmt, self.level = fmt, level
        self.path = None if is_stdout(path) else Path(path)  # type: ignore[arg-type]
        self.partial: Path | None = None
        self.done: set[str] = set()
        self._stream: IO[bytes] | None = None
        self._fd: int | None = None
        header_done = False
        if self.path is None or is_special(self.path):
            if resume:
                raise OutputError("--resume needs --output PATH of a regular file (it cannot resume a stream)")
            self._open_stream()
        else:
            header_done = self._open_partial(resume, check, batch_size)
        if fmt == "csv" and not header_done:
            self._write(_csv_text([TOKEN_COLUMNS if level == "token" else WORD_COLUMNS]))

    def _open_stream(self) -> None:
        if self.path is None:
            self._stream = sys.stdout.buffer
            return
        try:
            self._fd = os.open(self.path, os.O_WRONLY)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror}") from None

    def _open_partial(self, resume: bool, check: Check | None, batch_size: int | None) -> bool:
        """Open ``<path>.partial`` (after checking what a resumed file holds); whether it has a CSV header."""
        assert self.path is not None
        check_writable(self.path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        header_done = False
        existing = self.partial if self.partial.exists() else self.path if self.path.exists() else None
        if resume and existing is not None:
            state = scan_existing(existing, self.fmt, check, batch_size)  # refuses before anything is changed
            if existing == self.path:
                os.replace(self.path, self.partial)
            os.truncate(self.partial, state.keep_bytes)
            self.done, header_done = state.done, state.has_header
        else:
            flags |= os.O_TRUNC
        try:
            self._fd = os.open(self.partial, flags, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot write {self.partial}: {exc.strerror}") from None
        return header_done

    def _write(self, text: str) -> None:
        data = text.encode("utf-8", "surrogateescape")
        if self._fd is not None:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        else:
            assert self._stream is not None
            self._stream.write(data)
            self._stream.flush()

    def write(self, explanations: Sequence[Explanation]) -> None:
        """Write all records of one review in one block (none if this file already holds the review)."""
        if not explanations or explanations[0].id in self.done:
            return
        text = jsonl_lines(explanations) if self.fmt == "jsonl" else _csv_text(csv_rows(explanations, self.level))
        self._write(text)

    def close(self, complete: bool) -> None:
        """Flush; on a complete run rename ``.partial`` to the final name, else keep it for --resume."""
        if self._fd is not None:
            if self.partial is not None:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            if complete and self.partial is not None and self.path is not None:
                os.replace(self.partial, self.path)


class Outputs:
    """Every ``-o`` of a run (formats by extension): each review goes to all of them.

    ``done`` (what ``--resume`` skips) holds the ids finished in every output; an output that
    already holds a review does not get it twice.
    """

    def __init__(self, paths: Sequence[str], fmt: str | None, level: str, resume: bool, check: Check | None = None,
                 batch_size: int | None = None):
        paths = list(paths) or ["-"]
        if sum(is_stdout(p) for p in paths) > 1:
            raise OutputError("only one output can go to stdout ('-')")
        names = [str(Path(p).resolve()) for p in paths if not is_stdout(p)]
        if len(set(names)) < len(names):
            raise OutputError("the same output file is named twice")
        self.writers: list[ResultWriter] = []
        try:
            for p in paths:
                self.writers.append(ResultWriter(p, output_format(p, fmt), level=level, resume=resume, check=check,
                                                 batch_size=batch_size))
        except OutputError:
            self.close(complete=False)
            raise
        self.done: set[str] = set.intersection(*(w.done for w in self.writers))

    @property
    def partials(self) -> list[Path]:
        return [w.partial for w in self.writers if w.partial is not None]

    def write(self, explanations: Sequence[Explanation]) -> None:
        for w in self.writers:
            w.write(explanations)

    def close(self, complete: bool) -> None:
        for w in self.writers:
            w.close(complete)


class ErrorWriter:
    """Appends row errors as JSONL ({row, id, error}) to ``--errors PATH``."""

    def __init__(self, path: str | None, resume: bool = False):
        self._file = None
        if path:
            try:
                self._file = open(path, "a" if resume else "w", encoding="utf-8")
            except OSError as exc:
                raise OutputError(f"cannot write errors file {path}: {exc.strerror}") from None

    def write(self, err: RowError) -> None:
        if self._file is not None:
            self._file.write(json.dumps(err.to_dict(), ensure_ascii=False) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

"""Streaming JSONL / CSV writers with an atomic finish and ``--resume`` support. No tensors here.

A file output is written to ``<path>.partial`` and renamed to ``<path>`` when the run finishes, so a
reader never sees a half-written result under the final name. All records of one review are written
with one ``write`` call on an append-only descriptor, so a crash leaves whole reviews plus at most
one torn line; resuming drops the torn line and the last review (it may be incomplete) and redoes it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Sequence

from saliency_cli.outputs import OutputError
from saliency_cli.records import Explanation, RowError

OUTPUT_FORMATS = ("jsonl", "csv")
LEVELS = ("token", "word")
TOKEN_COLUMNS = ("id", "method", "target", "predicted", "probability", "position", "token", "start", "end", "score", "special")
WORD_COLUMNS = ("id", "method", "target", "predicted", "probability", "position", "word", "start", "end", "score")


def output_format(path: str | None, fmt: str | None) -> str:
    """The explicit format, else from the extension (``.csv``/``.tsv`` = csv), else JSONL."""
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


@dataclass
class ResumeState:
    """What an earlier, interrupted run left: the ids it finished and where its valid data ends."""

    done: set[str]
    keep_bytes: int
    has_header: bool


def _scan_jsonl(data: bytes) -> ResumeState:
    done: list[str] = []
    pos = 0
    last_id: str | None = None
    group_start = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            rid = str(json.loads(line)["id"])
        except (ValueError, KeyError, TypeError):
            break
        if rid != last_id:
            done.append(rid)
            last_id, group_start = rid, pos
        pos += len(line)
    if not done:
        return ResumeState(set(), 0, False)
    done.pop()  # the last review may be incomplete: redo it
    return ResumeState(set(done), group_start, False)


def _scan_csv(data: bytes) -> ResumeState:
    text = data.decode("utf-8", "surrogateescape")
    offsets: list[int] = []

    def lines() -> Iterator[str]:
        pos = 0
        for line in text.splitlines(keepends=True):
            if not line.endswith("\n"):
                return
            pos += len(line.encode("utf-8", "surrogateescape"))
            offsets.append(pos)
            yield line

    reader = csv.reader(lines())
    header = next(reader, None)
    if header is None:
        return ResumeState(set(), 0, False)
    header_end = offsets[-1]
    done: list[str] = []
    last_id: str | None = None
    group_start = header_end
    record_start = header_end
    for record in reader:
        if record and record[0] != last_id:
            done.append(record[0])
            last_id, group_start = record[0], record_start
        record_start = offsets[-1]
    if not done:
        return ResumeState(set(), header_end, True)
    done.pop()
    return ResumeState(set(done), group_start, True)


def scan_existing(path: Path, fmt: str) -> ResumeState:
    """Read a partial output: finished ids, and the byte length that holds only whole reviews."""
    data = path.read_bytes()
    return _scan_csv(data) if fmt == "csv" else _scan_jsonl(data)


class ResultWriter:
    """Writes each review's explanations as one block; stdout or ``<path>.partial`` renamed on finish."""

    def __init__(self, path: str | None, fmt: str, level: str = "token", resume: bool = False):
        if level not in LEVELS:
            raise OutputError(f"unknown --level {level!r}; choose from {', '.join(LEVELS)}")
        self.fmt, self.level = fmt, level
        self.path = None if path in (None, "-") else Path(path)
        self.done: set[str] = set()
        self._stream: IO[bytes] | None = None
        self._fd: int | None = None
        header_done = False
        if self.path is None:
            if resume:
                raise OutputError("--resume needs --output PATH (it cannot resume a stream on stdout)")
            self._stream = sys.stdout.buffer
        else:
            if self.path.is_dir():
                raise OutputError(f"output path is a directory: {self.path}")
            if not self.path.parent.exists():
                raise OutputError(f"output folder does not exist: {self.path.parent}")
            self.partial = self.path.with_name(self.path.name + ".partial")
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
            if resume and not self.partial.exists() and self.path.exists():
                os.replace(self.path, self.partial)
            if resume and self.partial.exists():
                state = scan_existing(self.partial, fmt)
                os.truncate(self.partial, state.keep_bytes)
                self.done, header_done = state.done, state.has_header
            else:
                flags |= os.O_TRUNC
            try:
                self._fd = os.open(self.partial, flags, 0o644)
            except OSError as exc:
                raise OutputError(f"cannot write {self.partial}: {exc.strerror}") from None
        if fmt == "csv" and not header_done:
            self._write(_csv_text([TOKEN_COLUMNS if level == "token" else WORD_COLUMNS]))

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
        """Write all records of one review in one block."""
        if not explanations:
            return
        text = jsonl_lines(explanations) if self.fmt == "jsonl" else _csv_text(csv_rows(explanations, self.level))
        self._write(text)

    def close(self, complete: bool) -> None:
        """Flush; on a complete run rename ``.partial`` to the final name, else keep it for --resume."""
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            if complete and self.path is not None:
                os.replace(self.partial, self.path)


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

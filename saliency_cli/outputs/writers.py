"""Streaming JSONL / CSV writers with an atomic finish and ``--resume`` support: the run's result and
error sinks. No tensors here.

A file output is written to ``<path>.partial`` and renamed to ``<path>`` when the run finishes
(``atomic.finish``), so a reader never sees a half-written result under the final name. All records of one review are written
with one ``write`` call on an append-only descriptor, so a crash leaves whole reviews plus at most
one torn line; resuming drops the torn line and the last batch (it may be incomplete) and redoes it
(see ``resume.py``). A Parquet output is written as those JSONL lines too, and converted to Parquet
when the run completes (``parquet.py``): a ``kill -9`` keeps its finished reviews for ``--resume``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO, Sequence

from saliency_cli.outputs.atomic import convert_into_place, finish, partial_path, reopen
from saliency_cli.outputs.formats import check_level, csv_header, output_format, render
from saliency_cli.outputs.parquet import import_pyarrow, read_records, write_from_jsonl
from saliency_cli.outputs.paths import OutputError, check_writable, is_special, is_stdout
from saliency_cli.outputs.resume import Check, logged_errors, scan_existing
from saliency_cli.records import COMPLETE, Explanation, Key, Outcome, RowError, is_done

class ResultWriter:
    """Writes each review's explanations as one block.

    ``-`` is stdout; a device, FIFO or other non-regular file is written in place; a regular file is
    written to ``<path>.partial`` and renamed on a complete run (kept for ``--resume`` otherwise).
    """

    def __init__(self, path: str | None, fmt: str, level: str = "token", resume: bool = False,
                 check: Check | None = None, batch_size: int | None = None, labelled: bool = False,
                 sourced: bool = False):
        check_level(level)
        self.fmt, self.level, self.labelled, self.sourced = fmt, level, labelled, sourced
        self.lines = "jsonl" if fmt == "parquet" else fmt  # Parquet: JSONL lines until the run completes
        self.path = None if is_stdout(path) else Path(path)  # type: ignore[arg-type]
        self.partial: Path | None = None
        self.done: set[Key] = set()
        self.redone = 0  # reviews of a resumed file that are explained again
        self._stream: IO[bytes] | None = None
        self._fd: int | None = None
        header_done = False
        if fmt == "parquet":
            import_pyarrow()  # a missing extra fails now, before any work
            if self.path is None or is_special(self.path):
                raise OutputError("Parquet is written to a regular file (its footer comes last): -o FILE.parquet")
        if self.path is None or is_special(self.path):
            if resume:
                raise OutputError("--resume needs --output PATH of a regular file (it cannot resume a stream)")
            self._open_stream()
        else:
            header_done = self._open_partial(resume, check, batch_size)
        if fmt == "csv" and not header_done:
            self._write(csv_header(level, labelled, sourced))

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
        self.partial = partial_path(self.path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        header_done = False
        existing = self.partial if self.partial.exists() else self.path if self.path.exists() else None
        if resume and existing is not None:
            finished = existing == self.path  # a file under its final name is a finished run's
            if finished and self.fmt == "parquet":  # a finished Parquet file: back to lines
                lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in read_records(self.path))
                self.partial.write_text("".join(lines), encoding="utf-8", errors="surrogateescape")
                existing = self.partial
            # refuses before anything is changed
            state = scan_existing(existing, self.lines, check, batch_size, finished=finished)
            if existing == self.path:
                reopen(self.path)
            os.truncate(self.partial, state.keep_bytes)
            self.done, header_done, self.redone = state.done, state.has_header, state.redone
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
        if not explanations or is_done(self.done, explanations[0].source, explanations[0].id):
            return
        self._write(render(explanations, self.lines, self.level, self.labelled, self.sourced))

    def close(self, complete: bool) -> None:
        """Flush; on a complete run rename ``.partial`` to the final name, else keep it for --resume."""
        if self._fd is not None:
            if self.partial is not None:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            if complete and self.partial is not None and self.path is not None:
                if self.fmt == "parquet":
                    convert_into_place(self.path, write_from_jsonl)
                else:
                    finish(self.path)


class Outputs:
    """Every ``-o`` of a run (formats by extension): each review goes to all of them.

    ``done`` (what ``--resume`` skips) holds the ids finished in every output; an output that
    already holds a review does not get it twice.
    """

    def __init__(self, paths: Sequence[str], fmt: str | None, level: str, resume: bool, check: Check | None = None,
                 batch_size: int | None = None, labelled: bool = False, sourced: bool = False):
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
                                                 batch_size=batch_size, labelled=labelled, sourced=sourced))
        except OutputError:
            self.close(complete=False)
            raise
        self.done: set[Key] = set.intersection(*(w.done for w in self.writers))
        self.redone = max(w.redone for w in self.writers)

    @property
    def partials(self) -> list[Path]:
        return [w.partial for w in self.writers if w.partial is not None]

    def write(self, explanations: Sequence[Explanation]) -> None:
        for w in self.writers:
            w.write(explanations)

    def close(self, complete: bool) -> None:
        for w in self.writers:
            w.close(complete)

    def add(self, result: Outcome | RowError) -> None:
        """The sink side: a review's records to every output (row errors go to ``ErrorWriter``)."""
        if isinstance(result, Outcome):
            self.write(result.explanations)

    def finish(self, ending: str) -> None:
        """Complete files are renamed into place; a stopped or aborted run keeps its ``.partial``."""
        self.close(ending == COMPLETE)


class ErrorWriter:
    """Appends row errors as JSONL ({source, row, id, error}; ``source`` for file inputs) to ``--errors PATH``.

    With ``--resume`` the file is continued: an error it already holds (the same file, row, id and
    reason) is not written again. A resumed run meets the reader's errors of the rows it skips, and
    those of the batch it redoes, a second time."""

    def __init__(self, path: str | None, resume: bool = False):
        self._file = None
        self._logged: set[tuple[object, ...]] = set()
        if path:
            try:
                if resume:
                    self._logged, whole = logged_errors(Path(path))
                    if whole is not None:
                        os.truncate(path, whole)  # a line torn by a crash is dropped
                self._file = open(path, "a" if resume else "w", encoding="utf-8")
            except OSError as exc:
                raise OutputError(f"cannot write errors file {path}: {exc.strerror}") from None

    def write(self, err: RowError) -> None:
        if self._file is not None and (err.source, err.row, err.id, err.error) not in self._logged:
            self._file.write(json.dumps(err.to_dict(), ensure_ascii=False) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def add(self, result: Outcome | RowError) -> None:
        if isinstance(result, RowError):
            self.write(result)

    def finish(self, ending: str) -> None:
        self.close()

"""The one place files are finished: every file the tool writes is written as ``NAME.partial`` and
renamed to ``NAME`` only when whole, so a reader never sees half a file under its final name.

``-`` is stdout, and a device, FIFO or ``/dev/stdout`` is written in place (never replaced by a
rename). A results file interrupted mid-run keeps its ``.partial`` for ``--resume``.
"""

from __future__ import annotations

import io
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator

from saliency_cli.outputs.paths import is_special, is_stdout

PARTIAL = ".partial"


def partial_path(final: str | os.PathLike[str]) -> Path:
    """Where ``final`` is written until it is whole."""
    final = Path(final)
    return final.with_name(final.name + PARTIAL)


def finish(final: str | os.PathLike[str]) -> None:
    """Rename the whole ``final.partial`` to ``final`` (atomically, replacing any older file)."""
    os.replace(partial_path(final), final)


def reopen(final: str | os.PathLike[str]) -> None:
    """Move a finished ``final`` back to its partial name, to append to it (``--resume`` of a whole file)."""
    os.replace(final, partial_path(final))


def convert_into_place(final: str | os.PathLike[str], convert: Callable[[Iterator[bytes], IO[bytes]], object]) -> None:
    """Turn the whole ``final.partial`` into ``final`` by ``convert(lines of the partial, output file)``
    (JSONL lines to Parquet): written beside it, synced, renamed over ``final``, then the partial removed."""
    source = partial_path(final)
    temp = Path(final).with_name(Path(final).name + ".converting")
    try:
        with open(source, "rb") as lines, open(temp, "wb") as out:
            convert(iter(lines), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, final)
        source.unlink()
    finally:
        if temp.exists():
            temp.unlink()


def write_whole(final: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``final`` through its partial name, synced to disk before the rename."""
    temp = partial_path(final)
    try:
        with open(temp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        finish(final)
    finally:
        if temp.exists():
            temp.unlink()


@contextmanager
def _stdout_text() -> Iterator[IO[str]]:
    """sys.stdout as UTF-8 text (pages declare UTF-8 whatever the terminal's encoding)."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        yield sys.stdout
        return
    sys.stdout.flush()
    wrapper = io.TextIOWrapper(buffer, encoding="utf-8", errors="replace")
    try:
        yield wrapper
    finally:
        wrapper.flush()
        wrapper.detach()  # leave sys.stdout open


@contextmanager
def open_text(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """A UTF-8 text stream onto ``path``: stdout for ``-``, in place for a non-regular file, else
    through ``path.partial``, renamed when the block ends without an error (removed if it fails)."""
    if is_stdout(path):
        with _stdout_text() as fh:
            yield fh
        return
    if is_special(path):
        with open(path, "w", encoding="utf-8", errors="replace") as fh:
            yield fh
        return
    temp = partial_path(path)
    try:
        with open(temp, "w", encoding="utf-8", errors="replace") as fh:
            yield fh
        finish(path)
    finally:
        if temp.exists():
            temp.unlink()

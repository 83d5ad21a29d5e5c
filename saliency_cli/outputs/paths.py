"""Where an output goes: stdout, a regular file (written atomically), or anything else written directly.

A regular file is written under a temporary name and renamed over the target when complete, so a
reader never sees half a file. A device (``/dev/null``), a FIFO or ``/dev/stdout`` must never be
replaced by a rename: those are opened and written in place. ``-`` means stdout.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

STDOUT = "-"


class OutputError(ValueError):
    """An output cannot be written, or its options do not fit (a user error: exit code 1)."""


def is_stdout(path: str | os.PathLike[str] | None) -> bool:
    """Whether ``path`` names standard output (``-`` or nothing)."""
    return path is None or str(path) == STDOUT


def is_special(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` exists and is not a regular file (a device, FIFO or socket): write it in place."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_writable(path: str | os.PathLike[str] | None, what: str = "output") -> None:
    """Raise OutputError now, before any work, if ``path`` cannot be written."""
    if is_stdout(path):
        return
    p = Path(path)  # type: ignore[arg-type]
    if p.is_dir():
        raise OutputError(f"{what} path is a directory: {p}")
    if is_special(p):
        if not os.access(p, os.W_OK):
            raise OutputError(f"cannot write {what} {p}: permission denied")
        return
    folder = p.parent
    if not folder.exists():
        raise OutputError(f"{what} folder does not exist: {folder}")
    if not os.access(folder, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise OutputError(f"cannot write {what} {p}: permission denied")

"""Which files an ``--input`` names, and opening them: one file, every file of a known format in a
folder (in name order), or the files a quoted glob matches (``*``, ``?``, ``[...]``, ``**``).

Each file gets its ``source``, the name records carry: its path relative to the folder, or to the
glob's fixed leading part; a single file's source is its own name. Local paths are made absolute
(workers on other machines see the same path on a shared filesystem); a URI (``s3://``, ``gs://``,
``hdfs://``, ``file://``) is opened with pyarrow's filesystems.
"""

from __future__ import annotations

import glob
import io
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from saliency_cli.inputs.spec import EXTENSIONS, InputError, detect_format

GLOB_CHARS = "*?["
_SNIFF_BYTES = 65536


@dataclass(frozen=True)
class InputFile:
    """One input file: the name its records carry, where it is, its format and size in bytes."""

    source: str
    path: str
    fmt: str
    size: int = 0


def is_uri(path: str) -> bool:
    """Whether ``path`` is a URI for pyarrow's filesystems (``scheme://...``), not a local path."""
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+://", path) is not None


def is_many(path: str | None) -> bool:
    """Whether ``--input`` names several files at once (a folder or a glob), so records need their source."""
    if path is None or path == "-":
        return False
    if any(c in path for c in GLOB_CHARS):
        return True
    if is_uri(path):
        return _uri_kind(path) == "dir"
    return os.path.isdir(path)


def _filesystem(uri: str):
    try:
        from pyarrow import fs
    except ImportError:
        raise InputError(f"{uri}: reading URIs needs pyarrow: pip install \"saliency-cli[parquet]\"") from None
    try:
        return fs.FileSystem.from_uri(uri)
    except Exception as exc:  # unknown scheme, missing credentials, bad bucket name
        raise InputError(f"cannot open {uri}: {str(exc).splitlines()[0]}") from None


def _uri_kind(uri: str) -> str:
    from pyarrow import fs

    filesystem, path = _filesystem(uri)
    kind = filesystem.get_file_info(path).type
    return {fs.FileType.File: "file", fs.FileType.Directory: "dir"}.get(kind, "none")


def open_binary(path: str, offset: int = 0) -> IO[bytes]:
    """The file as a buffered binary stream positioned at ``offset`` (InputError if it cannot be opened)."""
    if is_uri(path):
        filesystem, inner = _filesystem(path)
        try:
            raw = filesystem.open_input_file(inner)
        except OSError as exc:
            raise InputError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None
        stream: IO[bytes] = io.BufferedReader(raw, buffer_size=1 << 16)  # type: ignore[arg-type]
    else:
        try:
            stream = open(path, "rb")
        except OSError as exc:
            raise InputError(f"cannot open {path}: {exc.strerror}") from None
    if offset:
        stream.seek(offset)
    return stream


def _glob_root(pattern: str) -> str:
    """The fixed leading folders of a glob (``data/2024/*.jsonl`` -> ``data/2024``)."""
    parts = pattern.split("/")
    fixed = []
    for part in parts[:-1]:
        if any(c in part for c in GLOB_CHARS):
            break
        fixed.append(part)
    return "/".join(fixed) or ("/" if pattern.startswith("/") else ".")


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A glob over ``/``-separated names as a regex: ``*`` and ``?`` stay within a folder, ``**/`` spans any."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i + 1:]:
            close = pattern.index("]", i + 1)
            body = pattern[i + 1:close]
            out, i = out + "[" + ("^" + body[1:] if body.startswith("!") else body) + "]", close + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def _local_listing(path: str) -> tuple[str, list[str], bool]:
    """(root, matched paths, whether it was a folder) for a local path, folder or glob."""
    if any(c in path for c in GLOB_CHARS):
        matched = [p for p in glob.glob(path, recursive=True) if os.path.isfile(p)]
        return _glob_root(path), matched, False
    if os.path.isdir(path):
        names = [e.path for e in os.scandir(path) if e.is_file() and not e.name.startswith(".")]
        return path, names, True
    if not os.path.exists(path):
        raise InputError(f"input file not found: {path}")
    return os.path.dirname(path) or ".", [path], False


def _uri_listing(uri: str) -> tuple[str, list[str], bool]:
    """(root, matched URIs, whether it was a folder) for a URI, a URI folder or a URI glob."""
    from pyarrow import fs

    scheme, rest = uri.split("://", 1)
    is_glob = any(c in rest for c in GLOB_CHARS)
    fixed = _glob_root(rest) if is_glob else rest
    filesystem, root = _filesystem(f"{scheme}://{fixed}")
    kind = filesystem.get_file_info(root).type
    if kind == fs.FileType.File and not is_glob:
        return root.rsplit("/", 1)[0], [uri], False
    if kind != fs.FileType.Directory:
        raise InputError(f"no files match {uri}" if is_glob else f"input file not found: {uri}")
    listed = filesystem.get_file_info(fs.FileSelector(root, recursive=is_glob))
    files = [f.path for f in listed if f.type == fs.FileType.File and not f.base_name.startswith(".")]
    if is_glob:
        regex = _pattern_regex(rest[len(fixed):].lstrip("/"))
        files = [f for f in files if regex.match(f[len(root):].lstrip("/"))]
    return root, [f"{scheme}://{f}" for f in files], not is_glob


def _size(path: str) -> int:
    if is_uri(path):
        filesystem, inner = _filesystem(path)
        return filesystem.get_file_info(inner).size or 0
    return os.path.getsize(path)


def _relative(path: str, root: str) -> str:
    """``path`` relative to ``root``, with ``/`` between folders."""
    if is_uri(path):
        return path.split("://", 1)[1][len(root):].lstrip("/")
    return Path(os.path.relpath(path, root)).as_posix()


def _sniffed(path: str, text_field: str) -> str:
    """A file's format from its extension, else from its first bytes."""
    ext = os.path.splitext(path)[1].lower()
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    with open_binary(path) as fh:
        return detect_format(path, fh.read(_SNIFF_BYTES), text_field)


def _looked_for(fmt: str) -> str:
    return ", ".join(ext for ext, kind in sorted(EXTENSIONS.items(), key=lambda e: (e[1], e[0]))
                     if fmt in ("auto", kind))


def _check_one_format(path: str, found: list[InputFile], folder: bool) -> None:
    """InputError unless every file has the same format."""
    kinds = Counter(f.fmt for f in found)
    if len(kinds) < 2:
        return
    shown = ", ".join(f"{kind}: {next(f.source for f in found if f.fmt == kind)}"
                      + (f" and {n - 1} more" if n > 1 else "") for kind, n in sorted(kinds.items()))
    suffix = found[0].source.rsplit(".", 1)[-1]
    narrower = f"a glob such as '{path.rstrip('/')}/*.{suffix}'" if folder else "a narrower glob"
    raise InputError(f"{path} holds files of several formats ({shown}); pass --format or {narrower}")


def list_inputs(path: str, fmt: str = "auto", text_field: str = "text") -> tuple[InputFile, ...]:
    """The files ``--input`` names, in name order, with their sources and formats; InputError (before
    any work) for a folder with no files of a known format, a glob matching nothing, or files of
    several formats without ``--format``."""
    root, matched, folder = _uri_listing(path) if is_uri(path) else _local_listing(path)
    if folder:  # a folder: only the files of a known format (of --format's, when given)
        matched = [p for p in matched if fmt in ("auto", EXTENSIONS.get(os.path.splitext(p)[1].lower()))
                   and os.path.splitext(p)[1].lower() in EXTENSIONS]
        if not matched:
            raise InputError(f"no input files in {path} (looked for {_looked_for(fmt)})")
    elif not matched:
        raise InputError(f"no files match {path}")
    found = [InputFile(source, p if is_uri(p) else os.path.abspath(p),
                       fmt if fmt != "auto" else _sniffed(p, text_field), _size(p))
             for source, p in sorted((_relative(p, root), p) for p in matched)]
    _check_one_format(path, found, folder)
    return tuple(found)

"""What an interrupted run left in its output: the reviews it finished, where its whole data ends,
and whether it was written by the run that now wants to ``--resume`` it. Reads bytes; no tensors."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from saliency_cli.outputs.paths import OutputError
from saliency_cli.records import Key


@dataclass
class ResumeState:
    """What an earlier, interrupted run left: the reviews it finished, as (source, id), and where its
    valid data ends."""

    done: set[Key]
    keep_bytes: int
    has_header: bool
    redone: int = 0  # whole reviews in the file that are dropped and explained again (the last batch)


Check = Callable[[Mapping[str, Any]], "str | None"]  # a record (JSONL object or CSV row) -> why it does not belong


def _refuse(path: Path, where: str, why: str) -> OutputError:
    return OutputError(f"--resume: {path} ({where}) holds results of another run: {why}; "
                       "write to a new --output, or rerun without --resume to start over")


def _scan_jsonl(data: bytes, path: Path, check: Check | None, batch_size: int | None = None,
                finished: bool = False) -> ResumeState:
    reviews: list[tuple[Key, int, int | None]] = []  # ((source, id), first byte, row) of each review, in order
    pos = 0
    group: list[dict] = []
    for lineno, line in enumerate(data.splitlines(keepends=True), start=1):
        if not line.endswith(b"\n"):
            break
        try:
            record = json.loads(line)
            rid = (record.get("source"), str(record["id"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            break
        why = check(record) if check is not None else None
        if why:
            raise _refuse(path, f"line {lineno}", why)
        if not reviews or rid != reviews[-1][0]:
            _check_review(check, group, path, lineno)
            row = record.get("row")
            reviews.append((rid, pos, row if isinstance(row, int) else None))
            group = []
        group.append(record)
        pos += len(line)
    if not reviews:
        return ResumeState(set(), 0, False)
    if finished:  # a whole file: its last review is whole too, and nothing is redone
        _check_review(check, group, path, len(data.splitlines()) + 1)
        return ResumeState({rid for rid, _, _ in reviews}, pos, False, 0)
    cut = _redo_from(reviews, batch_size)
    return ResumeState({rid for rid, _, _ in reviews[:cut]}, reviews[cut][1], False, len(reviews) - cut)


def _redo_from(reviews: list[tuple[Key, int, int | None]], batch_size: int | None) -> int:
    """Index of the first review to redo: the last one (it may be incomplete) or, when rows and the
    batch size are known, every review of the last batch (of the last file), so the redone batch holds
    the same reviews as in an uninterrupted run and gives bit-identical scores."""
    last = len(reviews) - 1
    row = reviews[last][2]
    if not batch_size or row is None:
        return last
    block = (reviews[last][0][0], (row - 1) // batch_size)

    def block_of(i: int) -> tuple | None:
        r = reviews[i][2]
        return None if r is None else (reviews[i][0][0], (r - 1) // batch_size)

    while last > 0 and block_of(last - 1) == block:
        last -= 1
    return last


def _scan_csv(data: bytes, path: Path, check: Check | None, finished: bool = False) -> ResumeState:
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
    id_at = header.index("id") if "id" in header else 0
    source_at = header.index("source") if "source" in header else None

    def key(record: list[str]) -> Key:
        return (record[source_at] if source_at is not None else None, record[id_at])

    done: list[Key] = []
    last_id: Key | None = None
    group_start = header_end
    record_start = header_end
    group: list[dict] = []
    for record in reader:
        row = dict(zip(header, record))
        why = check(row) if check is not None and record else None
        if why:
            raise _refuse(path, f"line {reader.line_num}", why)
        if record and key(record) != last_id:
            _check_review(check, _first_per_target(group), path, reader.line_num)
            done.append(key(record))
            last_id, group_start, group = key(record), record_start, []
        if record:
            group.append(row)
        record_start = offsets[-1]
    if not done:
        return ResumeState(set(), header_end, True)
    if finished:  # a whole file: its last review is whole too, and nothing is redone
        _check_review(check, _first_per_target(group), path, reader.line_num + 1)
        return ResumeState(set(done), record_start, True, 0)
    done.pop()
    return ResumeState(set(done), group_start, True, 1)


def _check_review(check: Check | None, group: list[dict], path: Path, lineno: int) -> None:
    """A finished review (not the last one, which is redone) must hold what this run would write."""
    review = getattr(check, "review", None)
    why = review(group) if review is not None and group else None
    if why:
        raise _refuse(path, f"before line {lineno}", why)


def _first_per_target(rows: list[dict]) -> list[dict]:
    """One CSV row per (method, target) of a review: CSV repeats them for every token or word."""
    seen: dict[tuple, dict] = {}
    for row in rows:
        seen.setdefault((row.get("method"), row.get("target")), row)
    return list(seen.values())


def scan_existing(path: Path, fmt: str, check: Check | None = None, batch_size: int | None = None,
                  finished: bool = False) -> ResumeState:
    """Read an output to resume: finished ids, and the byte length that holds only whole reviews.
    A ``.partial`` file's last batch (JSONL; its last review for CSV) is redone, as a crash may have
    cut it; a ``finished`` file (a run that completed) is whole, so nothing in it is redone.
    ``check`` refuses (OutputError) a file holding a record of another run; nothing is changed."""
    data = path.read_bytes()
    if fmt == "csv":
        return _scan_csv(data, path, check, finished)
    return _scan_jsonl(data, path, check, batch_size, finished)


def logged_errors(path: Path) -> tuple[set[tuple[object, ...]], int | None]:
    """The (source, row, id, error) of each whole line of an errors file an earlier run wrote, and the byte
    length of those lines (None when nothing is to be cut: no regular file, or no torn last line)."""
    if not path.is_file():
        return set(), None
    data = path.read_bytes()
    logged: set[tuple[object, ...]] = set()
    whole = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        whole += len(line)
        try:
            record = json.loads(line)
            logged.add((record.get("source"), record["row"], record["id"], record["error"]))
        except (ValueError, KeyError, TypeError):
            continue
    return logged, (whole if whole < len(data) else None)

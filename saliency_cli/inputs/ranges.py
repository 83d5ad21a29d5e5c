"""Reading one file in parallel pieces with the rows, ids and errors of a read from its start.

``index_file`` is a pre-pass over one file: where every ``every``-th row starts (its byte offset and
physical line, found by the same readers, so CSV records with quoted newlines and malformed records
count as they do in a whole read), which rows repeat an id (ids must be unique within a file, and
a piece cannot see the rows before it), and which rows ``--resume`` skips. It holds none of the
data: a few numbers per piece. ``ranges`` cuts the index into ``Range`` s and ``read_range`` reads
one, anywhere the file can be opened. Text and JSONL take the fast path (counting lines) unless ids
must be read; Parquet files are cut by rows (the row groups a piece touches are read, and kept for the
next piece of the same group read in the same process).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping

from saliency_cli.inputs.delimited import Lines, ascii_compatible, csv_layout
from saliency_cli.inputs.files import InputFile, open_binary
from saliency_cli.inputs.lines import jsonl_ids, read_jsonl
from saliency_cli.inputs.rows import IdTracker, KnownIds
from saliency_cli.inputs.source import open_file
from saliency_cli.inputs.spec import InputSpec, check_encoding
from saliency_cli.records import Review, RowError


@dataclass(frozen=True)
class Cut:
    """Where a piece starts: the byte offset of its first record, that record's row and physical line."""

    offset: int
    row: int
    line: int


@dataclass(frozen=True)
class FileIndex:
    """A file's pieces (``cuts``), its last row, the rows that repeat an id (row -> the row that had it
    first) and the rows ``--resume`` skips."""

    file: InputFile
    cuts: tuple[Cut, ...]
    rows: int
    duplicates: Mapping[int, int] = field(default_factory=dict)
    done: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Range:
    """One piece of one file: rows ``cut.row..last_row``, with the index's findings for those rows.
    ``position`` is the file's place in the input (part files are named by it)."""

    file: InputFile
    position: int
    cut: Cut
    last_row: int
    duplicates: Mapping[int, int] = field(default_factory=dict)
    done: frozenset[int] = frozenset()


class _Counted:
    """Binary lines of a stream, noting the offset of every ``every``-th line (lines are rows)."""

    def __init__(self, stream: Iterable[bytes], every: int):
        self.stream, self.every = stream, every
        self.cuts: list[Cut] = []
        self.lines = 0

    def __iter__(self) -> Iterator[bytes]:
        offset, every, cuts = 0, self.every, self.cuts
        for line, raw in enumerate(self.stream, start=1):
            if line % every == 1 % every:
                cuts.append(Cut(offset, line, line))
            offset += len(raw)
            self.lines = line
            yield raw


def _done_rows(items: Iterable[Review | RowError], done_ids: frozenset[str]) -> set[int]:
    """Rows of the reviews whose ids ``--resume`` found (every item is read: duplicates are noted)."""
    return {item.row for item in items if isinstance(item, Review) and item.id in done_ids}


def _index_lines(file: InputFile, spec: InputSpec, encoding: str, every: int, done_ids: frozenset[str]) -> FileIndex:
    with open_binary(file.path) as stream:
        if file.fmt == "jsonl":  # the key 'id' or row numbers, decided as a whole read decides
            spec = jsonl_ids(stream, spec, encoding)
            stream.seek(0)
        lines = _Counted(stream, every)
        ids = IdTracker()
        if file.fmt == "jsonl" and spec.id_field is not None:  # ids are read: duplicates, --resume
            done = _done_rows(read_jsonl(lines, spec, encoding, ids), done_ids)
        else:  # ids are row numbers: no duplicates, and --resume's rows are its ids
            for _ in lines:
                pass
            done = {int(i) for i in done_ids if i.isdigit() and 1 <= int(i) <= lines.lines}
    return FileIndex(file, tuple(lines.cuts), lines.lines, ids.duplicates, frozenset(done))


def _index_csv(file: InputFile, spec: InputSpec, encoding: str, every: int, done_ids: frozenset[str]) -> FileIndex:
    from saliency_cli.inputs.delimited import read_csv_noting

    ids = IdTracker()
    cuts: list[Cut] = []
    with open_binary(file.path) as stream:
        head = stream.read(65536)
        stream.seek(0)
        if ascii_compatible(encoding):
            lines = Lines(stream, encoding, track=True)
            layout, records = csv_layout(lines, spec, file.fmt, head, encoding)
            items = read_csv_noting(records, layout, spec, ids, every,
                                    lambda row, line: cuts.append(Cut(lines.offset_of(line), row, line)))
        else:  # line ends are not single bytes: the file is read whole, in one piece
            items = open_file(file, spec, encoding, ids)
            cuts.append(Cut(0, 1, 1))
        last, done = 0, set()
        for item in items:
            last = item.row
            if isinstance(item, Review) and item.id in done_ids:
                done.add(item.row)
    return FileIndex(file, tuple(cuts), last, ids.duplicates, frozenset(done))


def _index_parquet(file: InputFile, spec: InputSpec, every: int, done_ids: frozenset[str]) -> FileIndex:
    """Pieces every ``every`` rows (a piece reads the row groups it touches: ``parquet.column_values``);
    with ids to read, the file is read by its reader, as for JSONL."""
    from saliency_cli.inputs.parquet import open_parquet, parquet_ids, parquet_rows, read_parquet

    parquet = open_parquet(file.path)
    try:
        rows, ids, spec = parquet_rows(parquet), IdTracker(), parquet_ids(parquet, spec)
        if spec.id_field is not None:
            done = _done_rows(read_parquet(parquet, spec, ids), done_ids)
        else:
            done = {int(i) for i in done_ids if i.isdigit() and 1 <= int(i) <= rows}
    finally:
        parquet.close()
    cuts = tuple(Cut(row - 1, row, row) for row in range(1, rows + 1, every))
    return FileIndex(file, cuts, rows, ids.duplicates, frozenset(done))


def index_file(file: InputFile, spec: InputSpec, every: int, done_ids: frozenset[str] = frozenset()) -> FileIndex:
    """The pre-pass over one file: a piece starts every ``every`` rows (give a multiple of the batch
    size, so pieces hold whole batches), with its duplicates and the rows whose ids are in ``done_ids``."""
    encoding = check_encoding(spec.encoding)
    if file.fmt == "parquet":
        return _index_parquet(file, spec, every, done_ids)
    with open_binary(file.path) as stream:
        if not stream.read(65536).strip():  # an empty shard: no rows, no pieces
            return FileIndex(file, (), 0)
    if file.fmt in ("text", "jsonl"):  # their readers split lines as bytes, whatever the encoding
        return _index_lines(file, spec, encoding, every, done_ids)
    return _index_csv(file, spec, encoding, every, done_ids)


def ranges(index: FileIndex, position: int) -> list[Range]:
    """The index's pieces, each with the duplicates and skipped rows that fall in it."""
    dups, done = sorted(index.duplicates), sorted(index.done)
    out = []
    for i, cut in enumerate(index.cuts):
        last = index.cuts[i + 1].row - 1 if i + 1 < len(index.cuts) else index.rows
        mine = dups[bisect_left(dups, cut.row):bisect_right(dups, last)]
        out.append(Range(index.file, position, cut, last, {r: index.duplicates[r] for r in mine},
                         frozenset(done[bisect_left(done, cut.row):bisect_right(done, last)])))
    return out


def join(pieces: list[Range]) -> Range:
    """Consecutive pieces of one file as one piece."""
    first, last = pieces[0], pieces[-1]
    assert all(p.file == first.file for p in pieces)
    return Range(first.file, first.position, first.cut, last.last_row,
                 {r: f for p in pieces for r, f in p.duplicates.items()}, frozenset().union(*(p.done for p in pieces)))


def read_range(piece: Range, spec: InputSpec) -> Iterator[Review | RowError]:
    """The items of one piece, less the rows ``--resume`` skips: the same rows, ids and errors as a
    read of the whole file gives for them."""
    encoding = check_encoding(spec.encoding)
    cut = None if piece.cut.row == 1 else piece.cut  # the first piece reads from the start (the header)
    items = open_file(piece.file, spec, encoding, KnownIds(dict(piece.duplicates)), cut, piece.last_row,
                      allow_empty=True)
    return (item for item in items if not (isinstance(item, Review) and item.row in piece.done))

"""What the actors are given: one Ray dataset of padded pandas blocks of input items, for the whole run.

Input files are read by Ray read tasks, in parallel: the pre-pass (``inputs.ranges.index_file``, one
Ray task per file) cuts every file into pieces of one block each (byte ranges of a text, JSONL or CSV
file, row ranges of a Parquet file) and finds what ``--resume`` skips; each read task reads one piece
with the usual readers, so rows, ids and row errors are those of a local run. The driver holds a few
numbers per piece, never the data. Reviews given as arguments or on stdin are read by the driver and
put in Ray's object store as blocks.

A block holds whole batches (cut by ``batches.row_batches``, so the same reviews go together as in a
local run): ``block`` (its name: the file's position and first row; part files are named by it),
``batch``, ``row``, ``item`` (the pickled ``Review`` or ``RowError``); filler rows (batch -1) pad every
block to the same number of rows, so each Ray batch the actors get is exactly one block.
"""

from __future__ import annotations

import pickle
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from typing import Any, Iterable, Iterator, Sequence

from ray.data import Datasource, ReadTask
from ray.data.block import BlockMetadata

from saliency_cli.inputs import InputSpec
from saliency_cli.inputs.files import InputFile
from saliency_cli.inputs.ranges import Range, index_file, join, ranges, read_range
from saliency_cli.records import Key, Review, RowError
from saliency_cli.runners.batches import row_batches

COLUMNS = ("block", "batch", "row", "item")
FILLER = -1  # the batch number of padding rows


@dataclass(frozen=True)
class Blocks:
    """How input items are cut into blocks: at most ``batches`` of ``batch_size`` rows per block; the
    first block holds ``first`` batches, and each next one twice as many, up to ``batches``."""

    batch_size: int
    batches: int
    first: int = 1

    @property
    def rows(self) -> int:
        """The rows of every block (padded to the largest): one Ray batch."""
        return self.batch_size * self.batches

    def sizes(self) -> Iterator[int]:
        """Rows of the first block, the second, ...: small first (the first answers come soon), then
        larger (fewer blocks: less overhead per row, and a driver that keeps less for each block)."""
        batches = min(self.first, self.batches)
        while True:
            yield batches * self.batch_size
            batches = min(2 * batches, self.batches)


def grown(pieces: Sequence[Range], blocks: Blocks) -> list[Range]:
    """Pieces of ``blocks.first`` batches each, joined into pieces of the sizes ``blocks.sizes`` gives,
    in input order, never across files: one read task (and one block) each."""
    sizes, out, pending = blocks.sizes(), [], []
    size = next(sizes)
    for piece in pieces:
        if pending and (piece.file != pending[0].file or piece.last_row - pending[0].cut.row + 1 > size):
            out.append(join(pending))
            pending, size = [], next(sizes)
        pending.append(piece)
    if pending:
        out.append(join(pending))
    return out


def frames(items: Iterable[Review | RowError], blocks: Blocks, position: int = 0,
           sizes: Iterator[int] | None = None) -> Iterator[Any]:
    """Padded pandas blocks of whole batches of ``items`` (all of one file, at ``position`` in the input,
    or all read by the driver): of ``sizes`` rows, else of the largest size (a piece: one block)."""
    import pandas as pd

    pending: list[tuple[int, Sequence[Review | RowError]]] = []
    size = next(sizes) if sizes is not None else blocks.rows

    def frame() -> Any:
        name = f"{position:05d}-{pending[0][1][0].row:012d}"
        data = [(name, number, item.row, pickle.dumps(item)) for number, batch in pending for item in batch]
        data += [(name, FILLER, FILLER, b"")] * (blocks.rows - len(data))
        pending.clear()
        return pd.DataFrame(data, columns=list(COLUMNS))

    for number, batch in row_batches(items, blocks.batch_size):
        if pending and len(pending) * blocks.batch_size >= size:
            yield frame()
            size = next(sizes) if sizes is not None else size
        pending.append((number, batch))
    if pending:
        yield frame()


def _read_piece(piece: Range, spec: InputSpec, blocks: Blocks) -> Iterator[Any]:
    """A read task: the blocks of one piece of one file."""
    yield from frames(read_range(piece, spec), blocks, piece.position)


class InputPieces(Datasource):
    """A Ray Data source over the pieces of the input files: one read task per piece."""

    def __init__(self, pieces: Sequence[Range], spec: InputSpec, blocks: Blocks):
        self.pieces, self.spec, self.blocks = list(pieces), spec, blocks

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: Any = None) -> list[ReadTask]:
        return [ReadTask(partial(_read_piece, piece, self.spec, self.blocks),
                         BlockMetadata(num_rows=None, size_bytes=None, input_files=[piece.file.path], exec_stats=None))
                for piece in self.pieces]


@dataclass(frozen=True)
class Indexed:
    """The pre-pass over every input file: the pieces to read, and the rows ``--resume`` skips."""

    pieces: list[Range]
    skipped: int


def _done_by_source(done: Iterable[Key]) -> dict[str | None, frozenset[str]]:
    by_source: dict[str | None, set[str]] = defaultdict(set)
    for source, rid in done:
        by_source[source].add(rid)
    return {source: frozenset(ids) for source, ids in by_source.items()}


def index_files(ray: Any, files: Sequence[InputFile], spec: InputSpec, done: Iterable[Key], every: int,
                concurrency: int) -> Indexed:
    """Index every file in Ray tasks, ``concurrency`` at a time (zero-CPU tasks: they never wait for
    the actors' CPUs), and cut the pieces."""
    task = ray.remote(num_cpus=0, max_retries=3)(index_file)
    by_source = _done_by_source(done)
    legacy = by_source.get(None, frozenset())  # records without a source stand for their ids in any file
    refs: list[Any] = []
    indexes: list[Any] = []
    for file in files:
        if len(refs) - len(indexes) >= concurrency:  # a window of tasks in flight, gathered in order
            indexes.append(ray.get(refs[len(indexes)]))
        refs.append(task.remote(file, spec, every, by_source.get(file.source, frozenset()) | legacy))
    indexes.extend(ray.get(refs[len(indexes):]))
    pieces = [piece for position, index in enumerate(indexes) for piece in ranges(index, position)]
    return Indexed(pieces, sum(len(index.done) for index in indexes))


def driver_blocks(ray: Any, items: Iterable[Review | RowError], blocks: Blocks) -> list[Any]:
    """Reviews read by the driver (arguments, stdin) as blocks put in the object store, read as they go."""
    return [ray.put(frame) for frame in frames(items, blocks, sizes=blocks.sizes())]

"""The actors' input without Ray: blocks of whole batches, padded, small first and growing, never
across files (one read task each)."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from saliency_cli.inputs import InputSpec  # noqa: E402
from saliency_cli.inputs.files import list_inputs  # noqa: E402
from saliency_cli.inputs.ranges import index_file, ranges, read_range  # noqa: E402
from saliency_cli.records import Review  # noqa: E402
from saliency_cli.runners.ray.reading import Blocks, frames, grown  # noqa: E402


def test_pieces_grow_from_the_first_block_size_and_never_span_two_files(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("".join(f"review {i}\n" for i in range(1, 21)))
    (folder / "b.txt").write_text("".join(f"other {i}\n" for i in range(1, 6)))
    spec = InputSpec(path=str(folder))
    blocks = Blocks(batch_size=2, batches=4, first=1)  # blocks of 2, 4, then 8 rows
    pieces = [p for n, f in enumerate(list_inputs(str(folder))) for p in ranges(index_file(f, spec, 2), n)]
    joined = grown(pieces, blocks)
    assert [(p.file.source, p.cut.row, p.last_row) for p in joined] == [
        ("a.txt", 1, 2), ("a.txt", 3, 6), ("a.txt", 7, 14), ("a.txt", 15, 20), ("b.txt", 1, 5)]
    assert [i for p in joined for i in read_range(p, spec)] == [i for p in pieces for i in read_range(p, spec)]
    block, = frames(read_range(joined[2], spec), blocks, position=0)  # a piece is one block
    assert block["row"].tolist() == list(range(7, 15)) and block["batch"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert set(block["block"]) == {"00000-000000000007"}


def test_reviews_read_by_the_driver_come_in_growing_padded_blocks():
    items = [Review(str(r), "x", r) for r in range(1, 11)]
    blocks = Blocks(batch_size=2, batches=4, first=1)
    cut = list(frames(items, blocks, sizes=blocks.sizes()))
    assert [len(f) for f in cut] == [8, 8, 8]  # every block padded to the largest
    assert [[r for r in f["row"] if r > 0] for f in cut] == [[1, 2], [3, 4, 5, 6], [7, 8, 9, 10]]

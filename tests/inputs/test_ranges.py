"""Reading a file in pieces (as Ray's read tasks do): the same rows, ids and errors as a whole read,
for every piece size, CSV records over several lines and malformed records included."""

from __future__ import annotations

import pytest

from saliency_cli.inputs import InputSpec, open_reviews
from saliency_cli.inputs.files import list_inputs
from saliency_cli.inputs.ranges import index_file, ranges, read_range
from saliency_cli.records import Review

CSV = (b'\xef\xbb\xbfid,text\r\n1,"multi\nline review"\r\n\r\n2,plain\r\n3,"broken quote\n4,after broken\n'
       b'5,x"y\n4,dup id\n6,"ok, fine"\n7,"cr\rinside"\n8,lone\rcr\n9,last')
JSONL = (b'{"id": 1, "text": "a"}\n\n{"id": 2, "text": ""}\nnot json\n{"id": 1, "text": "dup"}\n'
         b'{"text": "no id"}\n{"id": 9, "text": "\xff bad byte"}\n{"id": 10, "text": "z"}')
TEXT = b"one\n\ntwo\r\nthree\n\xff\nfour"


def pieces(path, spec, every, done=frozenset()):
    index = index_file(list_inputs(str(path))[0], spec, every, done_ids=done)
    return index, [item for piece in ranges(index, 0) for item in read_range(piece, spec)]


@pytest.mark.parametrize("name,data,id_field", [("r.csv", CSV, "id"), ("r.csv", CSV, None), ("r.csv", CSV, "rows"),
                                                ("r.jsonl", JSONL, "id"), ("r.jsonl", JSONL, None),
                                                ("r.jsonl", JSONL, "rows"), ("r.txt", TEXT, None)])
def test_pieces_give_the_rows_of_a_whole_read(tmp_path, name, data, id_field):
    """None: the key or column 'id' by default (a piece from inside the file decides as a whole read
    does, from the first object or the header); "rows": --row-ids."""
    path = tmp_path / name
    path.write_bytes(data)
    rows = id_field == "rows"
    spec = InputSpec(path=str(path), id_field=None if rows else id_field, row_ids=rows)
    whole = list(open_reviews(spec))
    assert any(not isinstance(i, Review) for i in whole)  # the file has row errors to keep in place
    for every in (1, 2, 3, 5, 100):
        index, got = pieces(path, spec, every)
        assert got == whole, every
        assert len(index.cuts) == -(-index.rows // every)  # a piece starts every `every` rows
        assert all(c.row % every == 1 % every for c in index.cuts)
    reviews = [i for i in whole if isinstance(i, Review)]
    assert all(i.id == str(i.row) for i in reviews) == (rows or name == "r.txt")  # else the 'id' key or column
    if not rows and name != "r.txt":
        assert dict(index.duplicates) == ({6: 4} if name == "r.csv" else {5: 1})


def test_csv_reads_as_before(tmp_path):
    """Lines end at \\n, \\r\\n or a lone \\r (as a text file opened with newline="" splits them)."""
    path = tmp_path / "r.csv"
    path.write_bytes(CSV)
    got = [(i.row, i.id, getattr(i, "text", None) or i.error[:20]) for i in open_reviews(InputSpec(path=str(path), row_ids=True))]
    assert got[:3] == [(1, "1", "multi\nline review"), (2, "2", "plain"), (3, "3", "malformed CSV at lin")]
    assert got[-4:] == [(8, "8", "cr\rinside"), (9, "9", "lone"), (10, "10", "the review text is e"),
                        (11, "11", "last")]


def test_csv_cuts_sit_at_record_starts(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(CSV)
    index, _ = pieces(path, InputSpec(path=str(path)), 1)
    starts = [CSV[c.offset:c.offset + 3] for c in index.cuts]
    assert starts[:3] == [b'1,"', b"2,p", b'3,"'] and index.cuts[1].line == 5  # after a record over two lines
    assert [c.line for c in index.cuts[2:5]] == [6, 7, 8]  # a malformed record's lines are read again as records


def test_resume_rows_come_from_the_ids_found(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(JSONL)
    spec = InputSpec(path=str(path), id_field="id")
    index, got = pieces(path, spec, 2, done=frozenset({"1", "10", "404"}))
    assert index.done == {1, 8}  # the duplicate "1" on row 5 is an error row, not a skipped one
    assert [i.row for i in got] == [3, 4, 5, 6, 7]
    index, _ = pieces(path, InputSpec(path=str(path), row_ids=True), 2, done=frozenset({"1", "3", "99"}))
    assert index.done == {1, 3}  # with --row-ids, ids are row numbers


def test_parquet_pieces_cut_row_groups_and_read_each_group_once(tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from saliency_cli.inputs import parquet as reader

    texts = [f"review {i}" for i in range(1, 11)]
    texts[3] = None
    ids = [str(i % 7) for i in range(1, 11)]  # rows 8-10 repeat the ids of rows 1-3; row 4 has no text
    ids[8] = "4"  # so its id is not taken: row 9 is no duplicate
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"text": texts, "key": ids}), path, row_group_size=4)
    spec = InputSpec(path=str(path), id_field="key")
    whole = list(open_reviews(spec))
    assert [type(i).__name__ for i in whole][3] == "RowError" and "duplicate id '1'" in whole[7].error
    index = index_file(list_inputs(str(path))[0], spec, 3)
    assert [c.row for c in index.cuts] == [1, 4, 7, 10] and dict(index.duplicates) == {8: 1, 10: 3}
    reads = []
    real = pq.ParquetFile.read_row_group
    monkeypatch.setattr(pq.ParquetFile, "read_row_group", lambda self, i, **kw: reads.append(i) or real(self, i, **kw))
    assert [i for piece in ranges(index, 0) for i in read_range(piece, spec)] == whole
    assert reads == [0, 1, 2]  # pieces over rows 1-3, 4-6, 7-9, 10: each group decoded once


def test_a_parquet_id_column_is_the_id_and_a_label_column_is_carried_in_every_piece(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"text": [f"review {i}" for i in range(1, 7)], "id": [f"r{i}" for i in range(1, 7)],
                             "stars": [5, None, 3, 1, 2, 4]}), path, row_group_size=4)
    spec = InputSpec(path=str(path), label_field="stars")
    whole = list(open_reviews(spec))
    assert [(i.id, i.label) for i in whole] == [("r1", "5"), ("r2", None), ("r3", "3"), ("r4", "1"), ("r5", "2"),
                                                ("r6", "4")]
    assert all(i.labelled for i in whole)
    index, got = pieces(path, spec, 2, done=frozenset({"r3"}))
    assert index.done == {3} and got == [i for i in whole if i.id != "r3"]  # --resume by the column's ids
    rows = InputSpec(path=str(path), row_ids=True)
    assert [i.id for i in open_reviews(rows)] == [str(r) for r in range(1, 7)]

"""What an interrupted run left: the reviews it finished, where its whole data ends, the row errors it
logged; each read from bytes written here by hand."""

from __future__ import annotations

import json

from saliency_cli.outputs.resume import logged_errors
from saliency_cli.outputs.writers import ErrorWriter
from saliency_cli.records import RowError


def test_logged_errors_keeps_whole_lines_and_says_where_they_end(tmp_path):
    path = tmp_path / "errors.jsonl"
    assert logged_errors(path) == (set(), None)  # no file yet
    lines = [json.dumps({"row": 2, "id": None, "error": "malformed"}) + "\n",
             "not json\n",  # a line another tool wrote: kept, not a key
             json.dumps({"row": 5, "id": "e", "error": "empty"}) + "\n"]
    path.write_text("".join(lines))
    assert logged_errors(path) == ({(None, 2, None, "malformed"), (None, 5, "e", "empty")}, None)
    path.write_text("".join(lines) + '{"row": 9, "id"')
    assert logged_errors(path) == ({(None, 2, None, "malformed"), (None, 5, "e", "empty")}, len("".join(lines)))
    assert logged_errors(tmp_path) == (set(), None)  # not a regular file: nothing read


def test_error_writer_on_resume_cuts_a_torn_line_and_skips_what_it_holds(tmp_path):
    path = tmp_path / "errors.jsonl"
    first = json.dumps({"row": 2, "id": None, "error": "malformed"}) + "\n"
    path.write_text(first + '{"row": 9, "id"')
    writer = ErrorWriter(str(path), resume=True)
    for err in (RowError(2, None, "malformed"), RowError(2, None, "another reason"), RowError(9, "i", "empty")):
        writer.add(err)
    writer.finish("complete")
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"row": 2, "id": None, "error": "malformed"}, {"row": 2, "id": None, "error": "another reason"},
        {"row": 9, "id": "i", "error": "empty"}]
    writer = ErrorWriter(str(path))  # no --resume: a new file
    writer.add(RowError(2, None, "malformed"))
    writer.finish("complete")
    assert path.read_text() == first


def jsonl(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def keys(*ids):
    """The (source, id) keys of finished reviews of a run without --input sources."""
    return {(None, i) for i in ids}


def rec(rid, row=None, method="gradient", target=1, **extra):
    r = {"id": rid, "method": method, "target": {"index": target}, **extra}
    return r if row is None else {**r, "row": row}


def test_a_partial_jsonl_keeps_whole_reviews_and_redoes_the_last_one_or_its_batch(tmp_path):
    from saliency_cli.outputs.resume import scan_existing

    path = tmp_path / "out.jsonl.partial"
    body = jsonl(rec("a", 1), rec("a", 1, "ig"), rec("b", 2), rec("c", 3), rec("d", 4), rec("d", 4, "ig"))
    path.write_bytes(body + b'{"id": "e", "met')
    state = scan_existing(path, "jsonl")
    assert (state.done, state.has_header, state.redone) == (keys("a", "b", "c"), False, 1)
    assert state.keep_bytes == len(jsonl(rec("a", 1), rec("a", 1, "ig"), rec("b", 2), rec("c", 3)))
    by_batch = scan_existing(path, "jsonl", batch_size=2)  # rows 3 and 4 are one batch: both redone
    assert (by_batch.done, by_batch.redone) == (keys("a", "b"), 2)
    assert by_batch.keep_bytes == len(jsonl(rec("a", 1), rec("a", 1, "ig"), rec("b", 2)))
    assert scan_existing(path, "jsonl", batch_size=4).done == set()  # one batch of rows 1-4: all redone
    assert scan_existing(path, "jsonl", batch_size=4).keep_bytes == 0
    whole = scan_existing(path, "jsonl", batch_size=2, finished=True)
    assert (whole.done, whole.keep_bytes, whole.redone) == (keys("a", "b", "c", "d"), len(body), 0)
    path.write_bytes(jsonl(rec("a"), rec("b")) + b"not json\n" + jsonl(rec("c")))  # rows unknown: the last redone
    assert scan_existing(path, "jsonl", batch_size=2).done == keys("a")
    path.write_bytes(b"")
    assert (scan_existing(path, "jsonl").done, scan_existing(path, "jsonl").keep_bytes) == (set(), 0)


def test_a_partial_csv_keeps_its_header_and_whole_reviews(tmp_path):
    from saliency_cli.outputs.resume import scan_existing

    header = "id,method,target,word,score\n"
    rows = ["a,gradient,pos,good,1\n", "a,gradient,pos,film,2\n", "b,gradient,pos,bad,3\n", "c,gradient,pos,ok,4\n"]
    path = tmp_path / "out.csv.partial"
    path.write_text(header + "".join(rows) + "c,grad")
    state = scan_existing(path, "csv")
    assert (state.done, state.has_header, state.redone) == (keys("a", "b"), True, 1)
    assert state.keep_bytes == len((header + "".join(rows[:3])).encode())
    whole = scan_existing(path, "csv", finished=True)
    assert (whole.done, whole.keep_bytes, whole.redone) == (keys("a", "b", "c"), len((header + "".join(rows)).encode()), 0)
    path.write_text(header)
    assert (scan_existing(path, "csv").done, scan_existing(path, "csv").keep_bytes) == (set(), len(header))
    path.write_text("id,meth")
    assert (scan_existing(path, "csv").keep_bytes, scan_existing(path, "csv").has_header) == (0, False)
    path.write_text(header + "é,gradient,pos,x,1\n" + "f,gradient,pos,y,2\n")
    assert scan_existing(path, "csv").keep_bytes == len((header + "é,gradient,pos,x,1\n").encode())


def test_records_of_another_run_are_refused_with_where_and_why(tmp_path):
    import pytest

    from saliency_cli.outputs.paths import OutputError
    from saliency_cli.outputs.resume import scan_existing

    def check(record):
        return "method ig, this run explains gradient" if record.get("method") == "ig" else None

    def review(records):
        return f"review {records[0]['id']!r} has {len(records)} records" if len(records) > 1 else None

    check.review = review
    path = tmp_path / "out.jsonl"
    path.write_bytes(jsonl(rec("a"), rec("b"), rec("c", method="ig")))
    with pytest.raises(OutputError) as info:
        scan_existing(path, "jsonl", check)
    assert str(info.value) == (f"--resume: {path} (line 3) holds results of another run: method ig, this run "
                               "explains gradient; write to a new --output, or rerun without --resume to start over")
    path.write_bytes(jsonl(rec("a"), rec("a", target=0), rec("b")))
    with pytest.raises(OutputError, match=r"\(before line 3\) holds results of another run: review 'a' has 2"):
        scan_existing(path, "jsonl", check)
    path.write_bytes(jsonl(rec("a"), rec("b"), rec("b", target=0)))
    assert scan_existing(path, "jsonl", check).done == keys("a")  # the last review is redone: not judged
    with pytest.raises(OutputError, match=r"\(before line 4\) holds .* review 'b' has 2"):
        scan_existing(path, "jsonl", check, finished=True)
    csv_path = tmp_path / "out.csv"
    csv_path.write_text("id,method,target\na,gradient,pos\na,gradient,pos\nb,gradient,pos\nb,ig,pos\n")
    with pytest.raises(OutputError) as info:
        scan_existing(csv_path, "csv", check)
    assert str(info.value).startswith(f"--resume: {csv_path} (line 5) holds results of another run: method ig")
    csv_path.write_text("id,method,target\na,gradient,pos\na,gradient,neg\nb,gradient,pos\n")
    with pytest.raises(OutputError, match=r"\(before line 4\) holds .* review 'a' has 2"):
        scan_existing(csv_path, "csv", check)
    csv_path.write_text("id,method,target\na,gradient,pos\na,gradient,pos\nb,gradient,pos\n")
    assert scan_existing(csv_path, "csv", check, finished=True).done == keys("a", "b")  # one row per (method, target)


def test_resume_state_details_batches_rows_bytes_and_paths(tmp_path):
    import pytest

    from saliency_cli.outputs.paths import OutputError
    from saliency_cli.outputs.resume import scan_existing

    path = tmp_path / "out.jsonl"
    path.write_bytes(jsonl(*(rec(c, i) for i, c in enumerate("abcde", start=1))))
    assert scan_existing(path, "jsonl", batch_size=2).redone == 1  # row 5 starts its own batch
    path.write_bytes(jsonl(rec("a"), rec("b", 3), rec("c", 4)))
    assert scan_existing(path, "jsonl", batch_size=2).redone == 2  # rows 3-4; the review without a row stays
    path.write_bytes(jsonl(rec("a", "1"), rec("b", "2")))
    assert scan_existing(path, "jsonl", batch_size=1).redone == 1  # rows that are not numbers: unknown
    for state in (scan_existing(path, "jsonl", finished=True), scan_existing(tmp_path / "out.jsonl", "jsonl")):
        assert state.has_header is False
    path.write_bytes(b"")
    assert scan_existing(path, "jsonl").has_header is False and scan_existing(path, "jsonl", finished=True).done == set()

    csv_path = tmp_path / "out.csv"
    header = "id,method,target\n"
    csv_path.write_bytes(header.encode() + b"caf\xe9,gradient,pos\n")  # bytes that are not UTF-8 are kept as they are
    assert scan_existing(csv_path, "csv").keep_bytes == len(header)
    assert scan_existing(csv_path, "csv", finished=True).done == keys("caf\udce9")
    assert scan_existing(csv_path, "csv", finished=True).has_header is True
    csv_path.write_text(header)
    assert scan_existing(csv_path, "csv").has_header is True
    csv_path.write_text("id,meth")
    assert scan_existing(csv_path, "csv").done == set()

    def check(record):
        return None

    def review(records):  # a review must hold both methods, whatever number of word rows each has
        return None if len(records) == 2 else f"{len(records)} records"

    check.review = review
    csv_path.write_text(header + "a,gradient,pos\na,gradient,pos\na,ig,pos\nb,gradient,pos\n")
    with pytest.raises(OutputError) as info:
        scan_existing(csv_path, "csv", check, finished=True)
    assert str(info.value).startswith(f"--resume: {csv_path} (before line 6) holds results of another run: 1 records")
    csv_path.write_text(header + "a,gradient,pos\nb,gradient,pos\nb,ig,pos\n")
    with pytest.raises(OutputError) as info:
        scan_existing(csv_path, "csv", check)
    assert str(info.value).startswith(f"--resume: {csv_path} (before line 3) holds results of another run: 1 records")
    path.write_bytes(jsonl(rec("a"), rec("b"), rec("b", method="ig")))
    with pytest.raises(OutputError) as info:
        scan_existing(path, "jsonl", check, finished=True)
    assert str(info.value).startswith(f"--resume: {path} (before line 2) holds results of another run: 1 records")
    path.write_bytes(jsonl(rec("a"), rec("a", method="ig"), rec("b")))
    with pytest.raises(OutputError) as info:
        scan_existing(path, "jsonl", check, finished=True)
    assert str(info.value).startswith(f"--resume: {path} (before line 4) holds results of another run: 1 records")


def test_reviews_of_many_files_are_keyed_by_source_and_id(tmp_path):
    from saliency_cli.outputs.resume import scan_existing

    csv_path = tmp_path / "out.csv"
    csv_path.write_text("row,source,id,method\n1,a.csv,7,gradient\n1,b.csv,7,gradient\n2,b.csv,8,gradient\n")
    assert scan_existing(csv_path, "csv", finished=True).done == {("a.csv", "7"), ("b.csv", "7"), ("b.csv", "8")}
    csv_path.write_text("row,id,method\n1,7,gradient\n2,8,gradient\n")
    assert scan_existing(csv_path, "csv", finished=True).done == keys("7", "8")
    path = tmp_path / "errors.jsonl"
    path.write_text(json.dumps({"source": "a.csv", "row": 2, "id": None, "error": "empty"}) + "\n")
    assert logged_errors(path) == ({("a.csv", 2, None, "empty")}, None)

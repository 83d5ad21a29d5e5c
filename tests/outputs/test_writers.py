"""JSONL/CSV writers: schema, long-form CSV, atomic finish, and resume after a torn write."""

from __future__ import annotations

import csv
import json

import pytest

from saliency_cli.records import Explanation, Prediction, Target, TokenScore, WordScore
from saliency_cli.outputs.resume import scan_existing
from saliency_cli.outputs.writers import OutputError, ResultWriter, output_format


def make(rid: str, method: str = "gradient") -> Explanation:
    return Explanation(
        id=rid, text="so good", model="m", method=method, params={}, row=1,
        prediction=Prediction("pos", 1, {"neg": 0.25, "pos": 0.75}), target=Target("pos", 1),
        tokens=(TokenScore("[CLS]", 0, 0, 0.0, True), TokenScore("so", 0, 2, 0.5, False),
                TokenScore("good", 3, 7, 1.5, False), TokenScore("[SEP]", 0, 0, 0.0, True)),
        words=(WordScore("so", 0, 2, 0.5), WordScore("good", 3, 7, 1.5)),
    )


def test_jsonl_roundtrip_and_atomic_rename(tmp_path):
    out = tmp_path / "o.jsonl"
    w = ResultWriter(str(out), "jsonl")
    w.write([make("1"), make("1", "gradient-x-input")])
    assert not out.exists() and (tmp_path / "o.jsonl.partial").exists()
    w.close(complete=True)
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and not (tmp_path / "o.jsonl.partial").exists()
    assert Explanation.from_dict(json.loads(lines[0])) == make("1")


@pytest.mark.parametrize("level,n,col", [("token", 4, "token"), ("word", 2, "word")])
def test_csv_long_form(tmp_path, level, n, col):
    out = tmp_path / "o.csv"
    w = ResultWriter(str(out), "csv", level=level)
    w.write([make("1")])
    w.close(complete=True)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == n and rows[-1][col] in ("good", "[SEP]")
    assert rows[0]["predicted"] == "pos" and rows[0]["probability"] == "0.75"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_drops_torn_line_and_last_review(tmp_path, fmt):
    out = tmp_path / f"o.{fmt}"
    w = ResultWriter(str(out), fmt)
    for rid in ("1", "2", "3"):
        w.write([make(rid), make(rid, "gradient-x-input")])
    w.close(complete=False)
    partial = tmp_path / f"o.{fmt}.partial"
    with partial.open("ab") as f:
        f.write(b'{"id": "4", "te' if fmt == "jsonl" else b"4,gradi")
    state = scan_existing(partial, fmt)
    assert state.done == {(None, "1"), (None, "2")}
    w = ResultWriter(str(out), fmt, resume=True)
    assert w.done == {(None, "1"), (None, "2")}
    for rid in ("3", "4"):
        w.write([make(rid), make(rid, "gradient-x-input")])
    w.close(complete=True)
    ref = tmp_path / f"ref.{fmt}"
    r = ResultWriter(str(ref), fmt)
    for rid in ("1", "2", "3", "4"):
        r.write([make(rid), make(rid, "gradient-x-input")])
    r.close(complete=True)
    assert out.read_bytes() == ref.read_bytes()


def test_output_format_and_errors(tmp_path):
    assert output_format("x.csv", None) == "csv"
    assert output_format("x.jsonl", None) == "jsonl"
    assert output_format("-", "csv") == "csv"
    with pytest.raises(OutputError):
        output_format("-", "xml")
    with pytest.raises(OutputError, match="--resume needs --output"):
        ResultWriter("-", "jsonl", resume=True)
    with pytest.raises(OutputError, match="does not exist"):
        ResultWriter(str(tmp_path / "no" / "o.jsonl"), "jsonl")


def test_reviews_of_several_files_are_told_apart_by_source(tmp_path):
    from dataclasses import replace

    from saliency_cli.outputs.saved import read_results

    rows = [replace(make(rid), source=source, row=int(rid)) for source in ("a.jsonl", "b.jsonl") for rid in "12"]
    out = tmp_path / "o.csv"
    w = ResultWriter(str(out), "csv", level="word", sourced=True)
    for e in rows:
        w.write([e])
    w.close(complete=False)
    text = (tmp_path / "o.csv.partial").read_text()
    assert text.splitlines()[:2] == ["source,id,method,target,predicted,probability,position,word,start,end,score",
                                     "a.jsonl,1,gradient,pos,pos,0.75,0,so,0,2,0.5"]
    assert [(e.source, e.id) for e in read_results(tmp_path / "o.csv.partial")] == [
        ("a.jsonl", "1"), ("a.jsonl", "2"), ("b.jsonl", "1"), ("b.jsonl", "2")]
    assert scan_existing(tmp_path / "o.csv.partial", "csv").done == {("a.jsonl", "1"), ("a.jsonl", "2"), ("b.jsonl", "1")}
    jsonl = tmp_path / "o.jsonl"
    w = ResultWriter(str(jsonl), "jsonl")
    for e in rows:
        w.write([e])
    w.close(complete=False)
    state = scan_existing(tmp_path / "o.jsonl.partial", "jsonl", batch_size=2)
    assert state.done == {("a.jsonl", "1"), ("a.jsonl", "2")}  # b.jsonl's rows 1-2 are its last batch: redone
    again = ResultWriter(str(jsonl), "jsonl", resume=True, batch_size=2)
    again.write([rows[0]])  # a review this file holds is not written twice
    again.write([rows[2]])
    again.close(complete=True)
    assert [(r["source"], r["id"]) for r in map(json.loads, jsonl.read_text().splitlines())] == [
        ("a.jsonl", "1"), ("a.jsonl", "2"), ("b.jsonl", "1")]


def test_a_resumed_run_continues_the_errors_file_per_source(tmp_path):
    from saliency_cli.outputs.writers import ErrorWriter
    from saliency_cli.records import RowError

    path = tmp_path / "errors.jsonl"
    path.write_text('{"source": "a.jsonl", "row": 3, "id": null, "error": "empty"}\n')
    writer = ErrorWriter(str(path), resume=True)
    writer.add(RowError(3, None, "empty", "a.jsonl"))  # the interrupted run logged it: not twice
    writer.add(RowError(3, None, "empty", "b.jsonl"))  # the same row of another file is its own error
    writer.finish("complete")
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"source": "a.jsonl", "row": 3, "id": None, "error": "empty"},
        {"source": "b.jsonl", "row": 3, "id": None, "error": "empty"}]


def test_a_labelled_run_adds_a_label_column_and_its_records_read_back(tmp_path):
    import dataclasses

    from saliency_cli.outputs.saved import read_results

    exps = [dataclasses.replace(make("a"), label="5 stars", labelled=True),
            dataclasses.replace(make("b"), label=None, labelled=True)]
    for level in ("word", "token"):
        path = tmp_path / f"{level}.csv"
        w = ResultWriter(str(path), "csv", level=level, labelled=True)
        for e in exps:
            w.write([e])
        w.close(complete=True)
        rows = list(csv.DictReader(path.open()))
        assert list(rows[0])[-1] == "label" and [r["label"] for r in rows][::len(rows) // 2] == ["5 stars", ""]
        back = list(read_results(path))
        assert [(e.label, e.labelled) for e in back] == [("5 stars", True), (None, True)]
    assert json.loads(json.dumps(exps[1].to_dict()))["label"] is None and "label" not in make("c").to_dict()

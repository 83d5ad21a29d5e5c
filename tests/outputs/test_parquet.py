"""Parquet results: the schema, a round trip through ``read_results``, the journal a run writes until it
completes (so ``--resume`` works after a kill), and the one-line error without pyarrow."""

from __future__ import annotations

import io
import json
import sys

import pytest

from saliency_cli.outputs.saved import read_results
from saliency_cli.outputs.writers import OutputError, Outputs, ResultWriter
from saliency_cli.records import Explanation, Prediction, Target, TokenScore, WordScore

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def make(rid: str, source: str | None = "a.jsonl", **extra) -> Explanation:
    return Explanation(
        id=rid, text="so good", model="m", method="integrated-gradients", params={"steps": 8, "baseline": "pad"},
        row=int(rid), source=source, prediction=Prediction("pos", 1, {"neg": 0.25, "pos": 0.75}),
        target=Target("pos", 1), delta=-0.001,
        tokens=(TokenScore("[CLS]", 0, 0, 0.0, True), TokenScore("so", 0, 2, 0.5, False),
                TokenScore("good", 3, 7, 1.5, False), TokenScore("[SEP]", 0, 0, 0.0, True)),
        words=(WordScore("so", 0, 2, 0.5), WordScore("good", 3, 7, 1.5)), **extra,
    )


def test_one_row_per_record_with_tokens_and_words_as_lists_of_structs(tmp_path):
    out = tmp_path / "o.parquet"
    faith = {"comprehensiveness": 0.5, "curve": {"comprehensiveness": [0.1, 0.2]}}
    w = ResultWriter(str(out), "parquet")
    w.write([make("1"), make("1", faithfulness=faith)])
    w.write([make("2", source=None)])
    assert not out.exists() and json.loads((tmp_path / "o.parquet.partial").read_text().splitlines()[0])["id"] == "1"
    w.close(complete=True)
    table = pq.read_table(out)
    assert table.num_rows == 3 and not (tmp_path / "o.parquet.partial").exists()
    assert str(table.schema.field("tokens").type) == ("list<element: struct<token: string, start: int32, end: int32, "
                                                      "score: double, special: bool>>")
    assert table.column("source").to_pylist() == ["a.jsonl", "a.jsonl", None]
    assert table.column("words").to_pylist()[0] == [{"word": "so", "start": 0, "end": 2, "score": 0.5},
                                                    {"word": "good", "start": 3, "end": 7, "score": 1.5}]
    assert list(read_results(out)) == [make("1"), make("1", faithfulness=faith), make("2", source=None)]


def test_a_record_field_beyond_the_schema_is_kept_as_json_text(tmp_path):
    from saliency_cli.outputs.parquet import read_records, table

    record = {**make("1").to_dict(), "label": "5 stars"}
    path = tmp_path / "x.parquet"
    pq.write_table(table([record]), path)
    assert pq.read_table(path).column("label").to_pylist() == ['"5 stars"']
    assert list(read_records(path)) == [{**record, "faithfulness": None}]


def test_a_stopped_run_keeps_jsonl_lines_and_resume_completes_the_same_file(tmp_path):
    out = tmp_path / "o.parquet"
    whole = tmp_path / "whole.parquet"
    writer = ResultWriter(str(whole), "parquet")
    for rid in "123":
        writer.write([make(rid)])
    writer.close(complete=True)
    first = ResultWriter(str(out), "parquet")
    first.write([make("1")])
    first.write([make("2")])
    first.close(complete=False)  # Ctrl-C (or a kill: the lines are written as they come)
    assert not out.exists() and len((tmp_path / "o.parquet.partial").read_text().splitlines()) == 2
    again = Outputs([str(out)], None, "token", resume=True)
    assert again.done == {("a.jsonl", "1")}  # the last review is redone
    for rid in "23":
        again.write([make(rid)])
    again.close(complete=True)
    assert pq.read_table(out).equals(pq.read_table(whole))
    finished = Outputs([str(out)], None, "token", resume=True)  # resuming a finished file: nothing to redo
    assert finished.done == {("a.jsonl", "1"), ("a.jsonl", "2"), ("a.jsonl", "3")}
    finished.write([make("3")])
    finished.close(complete=True)
    assert pq.read_table(out).equals(pq.read_table(whole))


def test_parquet_results_read_from_stdin(tmp_path, monkeypatch):
    path = tmp_path / "o.parquet"
    writer = ResultWriter(str(path), "parquet")
    writer.write([make("1")])
    writer.close(complete=True)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(path.read_bytes()))))
    assert list(read_results("-")) == [make("1")]


def test_parquet_needs_a_file_and_pyarrow(tmp_path, monkeypatch):
    with pytest.raises(OutputError, match="Parquet is written to a regular file"):
        ResultWriter(None, "parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(OutputError) as exc:
        ResultWriter(str(tmp_path / "o.parquet"), "parquet")
    assert str(exc.value) == 'Parquet needs pyarrow: pip install "saliency-cli[parquet]"'

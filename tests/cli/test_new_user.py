"""What a new user hit on real files: runs that resume their own output, recorded precision, JSON
errors at their real column, ids from an `id` key, unknown output extensions, logs without wrapping
and with progress, and the small courtesies of the closing lines."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from saliency_cli.cli import app

runner = CliRunner()
LONG = " ".join(["the battery is awful but the screen is bright and sharp"] * 12)  # > the tiny model's 64 tokens


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def records(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_windowed_rows_record_the_baseline_asked_for_and_the_run_resumes_its_own_file(tmp_path, bert_dir):
    src = tmp_path / "in.txt"
    src.write_text(f"{LONG}\nshort and fine\n")
    out = tmp_path / "out.jsonl"
    args = ["explain", "-i", src, "--model", bert_dir, "--method", "gxi", "--long-text", "window", "--faithfulness",
            "--faithfulness-baseline", "delete", "-o", out]
    res = run(*args)
    assert res.exit_code == 0, res.stderr
    long, short = records(out)
    assert long["windows"] > 1 and long["faithfulness"]["baseline"] == "delete"
    assert long["faithfulness"]["comprehensiveness"] is None and "windows" in long["faithfulness"]["reason"]
    assert short["faithfulness"]["baseline"] == "delete" and short["faithfulness"]["comprehensiveness"] is not None
    assert "note: 1 review: faithfulness not computed for a review explained in windows" in res.stderr
    before = out.read_bytes()
    again = run(*args, "--resume")  # the file the same command wrote
    assert again.exit_code == 0, again.stderr
    assert out.read_bytes() == before


def test_precision_is_recorded_and_resume_refuses_another(tmp_path, bert_dir):
    out = tmp_path / "out.jsonl"
    res = run("explain", "great phone", "awful battery", "--model", bert_dir, "--method", "gxi", "-o", out,
              "--html", tmp_path / "r.html")
    assert res.exit_code == 0, res.stderr
    assert [r["dtype"] for r in records(out)] == ["float32", "float32"]
    assert re.search(r"<dt>precision</dt><dd>float32</dd>", (tmp_path / "r.html").read_text())
    before = out.read_bytes()
    res = run("explain", "great phone", "awful battery", "--model", bert_dir, "--method", "gxi", "-o", out,
              "--resume", "--dtype", "bfloat16")
    assert res.exit_code == 1 and res.stdout == ""
    assert "dtype 'float32', this run has 'bfloat16'" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == before


def test_a_malformed_json_line_is_reported_at_its_real_column(tmp_path, bert_dir):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "fine"}\n{"text": "ok"\n')
    res = run("explain", "-i", src, "--model", bert_dir, "--method", "grad", "-q")
    assert res.exit_code == 3
    assert "row 2 of in.jsonl: malformed JSON: Expecting ',' delimiter (line 2, column 14)" in res.stderr


def test_an_id_key_or_column_is_the_id_unless_row_numbers_are_asked_for(tmp_path, bert_dir):
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"id": "a-1", "text": "great"}\n{"id": "b-2", "text": "awful"}\n')
    csv = tmp_path / "in.csv"
    csv.write_text("text,id\ngreat,x7\nawful,y8\n")
    common = ["--model", bert_dir, "--method", "grad", "-q"]
    assert [json.loads(x)["id"] for x in run("explain", "-i", jsonl, *common).stdout.splitlines()] == ["a-1", "b-2"]
    assert [json.loads(x)["id"] for x in run("explain", "-i", csv, *common).stdout.splitlines()] == ["x7", "y8"]
    rows = run("explain", "-i", jsonl, "--row-ids", *common).stdout.splitlines()
    assert [json.loads(x)["id"] for x in rows] == ["1", "2"]
    res = run("explain", "-i", jsonl, "--row-ids", "--id-field", "id", *common)
    assert res.exit_code == 1 and "--id-field NAME or --row-ids, not both" in res.stderr


@pytest.mark.parametrize("name", ["x.txt", "results"])
def test_an_output_name_of_a_format_not_written_is_refused_before_any_work(tmp_path, name):
    res = run("explain", "great", "--model", tmp_path / "no-such-model", "-o", tmp_path / name)
    assert res.exit_code == 1 and res.stdout == ""
    assert "cannot tell which format to write" in res.stderr and "*.jsonl" in res.stderr and "--output-format" in res.stderr
    assert "model" not in res.stderr  # refused before the model was looked for
    assert not (tmp_path / name).exists()


def test_output_format_names_the_format_for_any_file_name(tmp_path, bert_dir):
    out = tmp_path / "rows.txt"
    res = run("explain", "great", "--model", bert_dir, "--method", "grad", "-q", "-o", out, "--output-format", "csv")
    assert res.exit_code == 0, res.stderr
    assert out.read_text().startswith("id,method,target,predicted,probability,position,token,")


def test_logs_get_progress_lines_and_unwrapped_tables(tmp_path, bert_dir):
    src = tmp_path / "in.txt"
    src.write_text("".join(f"review {i} is great fun\n" for i in range(1, 21)))
    res = run("explain", "-i", src, "--model", bert_dir, "--method", "grad", "-b", "2", "-o", tmp_path / "o.jsonl")
    assert res.exit_code == 0, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("progress:")]
    assert lines[0].startswith("progress: 2/20 rows written, 10% of the work,") and lines[-1].startswith("progress: 20/20 rows written, 100% of the work,")
    assert len(lines) == 10 and all(re.search(r"rows/s, \d+:\d\d:\d\d elapsed$", line) for line in lines)
    quiet = run("explain", "-i", src, "--model", bert_dir, "--method", "grad", "-q", "-o", tmp_path / "q.jsonl")
    assert "progress:" not in quiet.stderr
    res = run("evaluate", src, "--model", bert_dir, "--method", "grad", "--bootstrap", "20", "--summary",
              tmp_path / "s.json", "--html", tmp_path / "e.html")
    assert res.exit_code == 0, res.stderr
    intervals = re.findall(r"\[-?\d\.\d{3}, -?\d\.\d{3}\]", res.stderr)  # every interval whole on its line
    assert len(intervals) >= 4
    assert f"summary: {tmp_path / 's.json'}" in res.stderr and f"HTML page: {tmp_path / 'e.html'}" in res.stderr


def test_closing_lines_of_an_interrupted_run_and_its_resume_agree(tmp_path, bert_dir):
    src = tmp_path / "in.txt"
    src.write_text("".join(f"review {i} is fine\n" for i in range(1, 11)))
    out = tmp_path / "out.jsonl"
    args = ["explain", "-i", src, "--model", bert_dir, "--method", "grad", "-b", "4", "-o", out]
    assert run(*args).exit_code == 0
    lines = out.read_text().splitlines(keepends=True)
    (tmp_path / "out.jsonl.partial").write_text("".join(lines[:6]))  # batches 1-4 and 5-6 of 5-8 kept
    out.unlink()
    res = run(*args, "--resume")
    assert res.exit_code == 0, res.stderr
    assert "done: 6 rows explained (2 of them again: the last batch of the interrupted run), 4 already done" in res.stderr
    assert out.read_text().splitlines(keepends=True) == lines


@pytest.mark.parametrize("ext", ["jsonl", "csv"])
def test_resuming_a_finished_file_redoes_nothing(tmp_path, bert_dir, ext):
    out = tmp_path / f"out.{ext}"
    args = ["explain", "one", "two", "three", "--model", bert_dir, "--method", "grad", "-b", "2", "-o", out]
    assert run(*args).exit_code == 0
    before = out.read_bytes()
    res = run(*args, "--resume")
    assert res.exit_code == 0, res.stderr
    assert "done: 0 rows explained, 3 already done (--resume)" in res.stderr
    assert out.read_bytes() == before


def test_a_text_argument_that_names_a_file_is_explained_as_text_with_a_hint(tmp_path, bert_dir, monkeypatch):
    (tmp_path / "in2.csv").write_text("text\nGreat phone.\n")
    monkeypatch.chdir(tmp_path)
    res = run("explain", "in2.csv", "just a review", "--model", bert_dir, "--method", "grad", "-q")
    assert res.exit_code == 0, res.stderr
    assert [r["text"] for r in map(json.loads, res.stdout.splitlines())] == ["in2.csv", "just a review"]
    assert res.stderr.count("note:") == 1
    assert "note: 'in2.csv' names a file but is explained as review text; to read the file: -i in2.csv" in res.stderr

"""``saliency-cli summarize`` and ``explain --label-field / --summary`` end to end on the tiny model: the
same summary from JSONL, word-level CSV, split files, a Ray-style folder, stdin and the run itself; bad
input; gold labels carried through."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from typer.testing import CliRunner

from saliency_cli.cli import app

REVIEWS = [
    ("Great phone, terrible battery.", "negative"),
    ("The screen is bright and the sound is excellent.", "positive"),
    ("Awful customer service; they never answered my emails.", "negative"),
    ("Works as described, arrived on time, good value for money.", None),
    ("Not buying it any sooner! Other brands do a much better job", "neutral"),
    ("Great phone, great screen, great sound.", "positive"),
    ("The battery is awful and the screen is too dim.", "negative"),
    ("Great value for money, the sound is fine.", "positive"),
]
OLD_KEYS = ["schema", "id", "source", "row", "text", "model", "method", "params", "attribute", "dtype", "prediction", "target",
            "normalization", "truncated", "dropped_tokens", "delta", "windows", "tokens", "words"]


def run(*args, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


@pytest.fixture(scope="module")
def explained(tmp_path_factory, bert_dir):
    """One labelled run of the tiny model: JSONL, word-level CSV and the same-run summaries."""
    folder = tmp_path_factory.mktemp("summarize")
    src = folder / "reviews.jsonl"
    src.write_text("".join(json.dumps({"text": t, "stars": g} if g else {"text": t}) + "\n" for t, g in REVIEWS))
    out = {k: folder / f"run.{k}" for k in ("jsonl", "csv", "json", "html")}
    res = run("explain", "-i", src, "--model", bert_dir, "--method", "gxi", "--method", "loo", "--label-field", "stars",
              "-o", out["jsonl"], "-o", out["csv"], "--level", "word", "--summary", out["json"], "--summary", out["html"],
              "-b", 2)
    assert res.exit_code == 0, res.stderr
    assert "summary:" in res.stderr
    return folder, out


def summary_of(*results, extra=(), input=None) -> dict:
    res = run("summarize", *results, "--min-count", 2, "--json", "-", "-q", *extra, input=input)
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def numbers(summary: dict) -> dict:
    """What must not depend on the format: groups, words and every number, the confusion counts and drivers."""
    confusion = summary.get("confusion") or {}
    cells = [(c["gold"], c["predicted"], c["reviews"], {m: x["words"] for m, x in c["methods"].items()})
             for c in confusion.get("cells", [])]
    return {"groups": summary["groups"], "reviews": summary["reviews"], "records": summary["records"],
            "axes": (confusion.get("gold"), confusion.get("predicted"), confusion.get("counts")), "cells": cells}


def test_labels_are_carried_to_every_record_and_csv_row(explained):
    _, out = explained
    records = [json.loads(line) for line in out["jsonl"].read_text().splitlines()]
    assert [r["label"] for r in records[::2]] == [g for _, g in REVIEWS]
    assert list(records[0]) == OLD_KEYS + ["label"]
    rows = list(csv.DictReader(out["csv"].open()))
    assert rows[0]["label"] == "negative" and {r["label"] for r in rows if r["id"] == "4"} == {""}


def test_runs_without_a_label_field_write_what_they_wrote_before(tmp_path, bert_dir):
    res = run("explain", "Great phone.", "--model", bert_dir, "--method", "gxi", "-q")
    assert list(json.loads(res.stdout)) == OLD_KEYS
    res = run("explain", "Great phone.", "--model", bert_dir, "--method", "gxi", "-q", "--output-format", "csv",
              "--level", "word")
    assert res.stdout.splitlines()[0] == "id,method,target,predicted,probability,position,word,start,end,score"


def test_jsonl_word_csv_and_the_run_itself_give_the_same_summary(explained):
    _, out = explained
    from_jsonl, from_csv = summary_of(out["jsonl"]), summary_of(out["csv"])
    assert from_jsonl["groups"] and from_jsonl["confusion"]["counts"]
    assert numbers(from_csv) == numbers(from_jsonl)
    assert from_csv["model"] is None and from_jsonl["model"] == from_jsonl["model"]
    same_run = json.loads(out["json"].read_text())
    assert numbers(summary_of(out["jsonl"], extra=("--min-count", 5))) == numbers(same_run)
    page = out["html"].read_text()
    assert "Content-Security-Policy" in page and "<script" not in page and "Your labels against the predictions" in page


def test_split_files_a_ray_folder_and_stdin_summarize_to_the_same_numbers(explained, tmp_path):
    _, out = explained
    lines = out["jsonl"].read_text().splitlines(keepends=True)
    (tmp_path / "a.jsonl").write_text("".join(lines[:6]))  # whole reviews: 2 methods each
    (tmp_path / "b.jsonl").write_text("".join(lines[6:]))
    whole = summary_of(out["jsonl"])
    assert summary_of(tmp_path / "a.jsonl", tmp_path / "b.jsonl") == whole
    parts = tmp_path / "parts"
    parts.mkdir()
    shutil.copy(tmp_path / "a.jsonl", parts / "part-000000000001-x.jsonl")
    shutil.copy(tmp_path / "b.jsonl", parts / "part-000000000004-x.jsonl")
    manifest = {"schema": 1, "complete": True, "format": "jsonl", "parts": [
        {"file": "part-000000000001-x.jsonl"}, {"file": "part-000000000004-x.jsonl"}]}
    (parts / "manifest.json").write_text(json.dumps(manifest))
    assert summary_of(parts) == whole
    assert summary_of("-", input=out["jsonl"].read_text()) == whole


def test_tables_on_stderr_and_the_csv_has_a_row_per_group_and_word(explained, tmp_path):
    _, out = explained
    res = run("summarize", out["jsonl"], "--min-count", 2, "--csv", tmp_path / "words.csv")
    assert res.exit_code == 0 and res.stdout == ""
    assert "supports" in res.stderr and "gold label (rows)" in res.stderr and "summarized 8 reviews" in res.stderr
    rows = list(csv.DictReader((tmp_path / "words.csv").open()))
    summary = summary_of(out["jsonl"])
    assert len(rows) == sum(len(g["words"]) for g in summary["groups"])
    assert float(rows[0]["mean"]) == summary["groups"][0]["words"][0]["mean"]


def test_a_malformed_line_is_reported_with_its_file_and_line_and_the_rest_is_summarized(explained, tmp_path):
    _, out = explained
    lines = out["jsonl"].read_text().splitlines(keepends=True)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(lines[:2]) + '{"torn": \n' + "".join(lines[2:]))
    res = run("summarize", bad, "--json", tmp_path / "s.json", "-q")
    assert res.exit_code == 3
    assert f"{bad}:3: not valid JSON" in res.stderr
    assert json.loads((tmp_path / "s.json").read_text())["reviews"] == len(REVIEWS)


@pytest.mark.parametrize("case, message", [
    ("token csv", "token-level CSV"),
    ("two models", "summarize one run's results at a time"),
    ("not results", "holds no explain results"),
    ("missing", "results file not found"),
    ("folder", "without manifest.json"),
    ("twice", "named twice"),
])
def test_bad_inputs_are_one_line_errors_and_nothing_is_written(explained, tmp_path, bert_dir, case, message):
    folder, out = explained
    args = {"token csv": None, "two models": None, "not results": [folder / "reviews.jsonl"],
            "missing": [tmp_path / "nope.jsonl"], "folder": [tmp_path], "twice": [out["jsonl"], out["jsonl"]]}[case]
    if case == "token csv":
        args = [tmp_path / "tokens.csv"]
        res = run("explain", "Great phone.", "--model", bert_dir, "--method", "gxi", "-o", args[0], "-q")
        assert res.exit_code == 0
    if case == "two models":
        other = tmp_path / "other.jsonl"
        other.write_text(out["jsonl"].read_text().replace(f'"model": "{bert_dir}"', '"model": "another/model"'))
        args = [out["jsonl"], other]
    res = run("summarize", *args, "--json", tmp_path / "s.json")
    assert res.exit_code == 1, res.stderr
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s.json").exists()


def test_explain_summary_with_resume_covers_the_whole_file(explained, tmp_path, bert_dir):
    folder, out = explained
    lines = out["jsonl"].read_text().splitlines(keepends=True)
    rows = tmp_path / "rows.jsonl"
    (tmp_path / "rows.jsonl.partial").write_text("".join(lines[:8]))  # an interrupted run: 4 reviews done
    res = run("explain", "-i", folder / "reviews.jsonl", "--model", bert_dir, "--method", "gxi", "--method", "loo",
              "--label-field", "stars", "-o", rows, "--resume", "--summary", tmp_path / "s.json", "-b", 2, "-q")
    assert res.exit_code == 0, res.stderr
    assert rows.read_text() == out["jsonl"].read_text()
    assert numbers(json.loads((tmp_path / "s.json").read_text())) == numbers(summary_of(out["jsonl"], extra=("--min-count", 5)))


@pytest.mark.parametrize("args, message", [
    (["--summary", "-"], "send the results elsewhere"),
    (["--summary", "a.json", "--summary", "b.json"], "two json files"),
    (["--label-field", "stars"], "--label-field 'stars' needs CSV, JSONL or Parquet input"),
])
def test_explain_summary_and_label_misuse_is_refused_before_any_work(bert_dir, args, message):
    res = run("explain", "Great phone.", "--model", bert_dir, *args)
    assert res.exit_code == 1 and message in res.stderr and res.stdout == ""


def test_parquet_a_folder_of_results_and_a_glob_summarize_and_report_like_the_jsonl(explained, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    from saliency_cli.outputs.parquet import table

    _, out = explained
    records = [json.loads(line) for line in out["jsonl"].read_text().splitlines()]
    shards = tmp_path / "shards"
    shards.mkdir()
    pq.write_table(table(records[:6]), shards / "a.parquet")  # whole reviews: 2 methods each
    (shards / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[6:]))
    (shards / "notes.txt").write_text("not results\n")  # a folder's other files are left out
    whole = summary_of(out["jsonl"])
    assert summary_of(shards / "a.parquet", shards / "b.jsonl") == whole
    assert summary_of(shards) == whole
    assert summary_of(f"{shards}/*.[pj]*") == whole  # a.parquet and b.jsonl, in name order
    pages = {}
    for name, given in (("file", out["jsonl"]), ("folder", shards)):
        res = run("report", given, "-o", tmp_path / f"{name}.html")
        assert res.exit_code == 0, res.stderr
        pages[name] = (tmp_path / f"{name}.html").read_text()
        assert f"({len(REVIEWS)} reviews)" in res.stderr
    assert pages["folder"].count('<details class="rv ') == pages["file"].count('<details class="rv ') == len(REVIEWS)
    res = run("summarize", f"{tmp_path}/nothing-*.jsonl", "--json", "-")
    assert res.exit_code == 1 and "no results file matches" in res.stderr

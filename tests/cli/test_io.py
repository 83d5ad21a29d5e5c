"""Where the command line reads and writes: stdin and '-', several outputs, devices and FIFOs,
paths checked before the run, --resume refusing another run's file, and the small courtesies."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from saliency_cli.cli import app

runner = CliRunner()
TEXTS = ["great phone, love it", "awful battery, broke fast", "works as described"]


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_piped_stdin_is_read_without_arguments(bert_dir):
    res = run("explain", "--model", bert_dir, "--method", "grad", "-q", input="\n".join(TEXTS) + "\n")
    assert res.exit_code == 0, res.stderr
    assert [r["text"] for r in records(res.stdout)] == TEXTS


def test_dash_means_stdin_as_a_text_argument(bert_dir):
    res = run("explain", "-", "--model", bert_dir, "--method", "grad", "-q", input="only review\n")
    assert res.exit_code == 0, res.stderr
    assert [r["text"] for r in records(res.stdout)] == ["only review"]


def test_several_outputs_in_one_run_match_single_runs(tmp_path, bert_dir):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n")
    both = run("explain", "-i", src, "--model", bert_dir, "--method", "gxi", "-q",
               "-o", tmp_path / "rows.jsonl", "-o", tmp_path / "rows.csv")
    assert both.exit_code == 0 and both.stdout == "", both.stderr
    run("explain", "-i", src, "--model", bert_dir, "--method", "gxi", "-q", "-o", tmp_path / "one.jsonl")
    run("explain", "-i", src, "--model", bert_dir, "--method", "gxi", "-q", "-o", tmp_path / "one.csv")
    assert (tmp_path / "rows.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert (tmp_path / "rows.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert next(csv.reader(io.StringIO((tmp_path / "rows.csv").read_text())))[0] == "id"


def test_two_outputs_on_stdout_are_refused(bert_dir):
    res = run("explain", "x", "--model", bert_dir, "-o", "-", "-o", "-")
    assert res.exit_code == 1 and "only one output can go to stdout" in res.stderr
    res = run("explain", "x", "--model", bert_dir, "--html", "-")
    assert res.exit_code == 1 and "--html -" in res.stderr and res.stdout == ""


def test_html_to_stdout_and_report_from_stdin_to_stdout(tmp_path, bert_dir):
    out = tmp_path / "r.jsonl"
    res = run("explain", "<b>bold</b> claim", "--model", bert_dir, "--method", "grad", "-q", "-o", out, "--html", "-")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith("<!DOCTYPE html>") and "&lt;b&gt;bold&lt;/b&gt;" in res.stdout
    again = run("report", "-", "-o", "-", input=out.read_text())
    assert again.exit_code == 0, again.stderr
    assert again.stdout.startswith("<!DOCTYPE html>") and "&lt;b&gt;bold&lt;/b&gt;" in again.stdout


def test_devices_and_fifos_are_written_in_place_never_replaced(tmp_path, bert_dir):
    res = run("explain", "x", "--model", bert_dir, "--method", "grad", "-q", "-o", os.devnull, "--html", os.devnull)
    assert res.exit_code == 0, res.stderr
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert not Path(os.devnull + ".partial").exists()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)  # a failing run cannot hang the suite
    reader.start()
    res = run("explain", "x", "--model", bert_dir, "--method", "grad", "-q", "-o", fifo)
    reader.join(timeout=60)
    assert res.exit_code == 0, res.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert [r["text"] for r in records(got[0])] == ["x"]
    res = run("explain", "x", "--model", bert_dir, "-o", os.devnull, "--resume")
    assert res.exit_code == 1 and "regular file" in res.stderr


@pytest.mark.parametrize("flag", ["-o", "--errors", "--html"])
def test_every_output_path_is_checked_before_the_run(tmp_path, bert_dir, flag):
    missing = tmp_path / "no-such-folder" / "out.jsonl"
    args = ["explain", "x", "--model", bert_dir, flag, missing]
    if flag != "-o":
        args += ["-o", tmp_path / "rows.jsonl"]
    res = run(*args)
    assert res.exit_code == 1 and "folder does not exist" in res.stderr
    assert res.stdout == "" and not (tmp_path / "rows.jsonl.partial").exists()


@pytest.mark.parametrize("ext", ["jsonl", "csv"])
def test_resume_refuses_a_file_of_another_run_and_leaves_it_untouched(tmp_path, bert_dir, ext):
    out = tmp_path / f"rows.{ext}"
    assert run("explain", *TEXTS, "--model", bert_dir, "--method", "gxi", "-q", "-o", out).exit_code == 0
    before = out.read_bytes()
    for change in (["--method", "ig"], ["--method", "gxi", "--target", "all"]):
        res = run("explain", *TEXTS, "--model", bert_dir, "-q", "-o", out, "--resume", *change)
        assert res.exit_code == 1, (res.stdout, res.stderr, change)
        line = res.stderr.strip()
        assert "\n" not in line and "another run" in line
        assert out.read_bytes() == before and not Path(str(out) + ".partial").exists()
    same = run("explain", *TEXTS, "--model", bert_dir, "--method", "gxi", "-q", "-o", out, "--resume")
    assert same.exit_code == 0, same.stderr
    if ext == "jsonl":  # the whole last batch is redone: bit for bit the same
        assert out.read_bytes() == before
    else:  # CSV has no row numbers: only the last review is redone, alone
        new, old = list(csv.DictReader(io.StringIO(out.read_text()))), list(csv.DictReader(io.StringIO(before.decode())))
        assert [(r["id"], r["token"]) for r in new] == [(r["id"], r["token"]) for r in old]
        assert [float(r["score"]) for r in new] == pytest.approx([float(r["score"]) for r in old], rel=1e-4, abs=1e-7)


def test_resume_continues_two_outputs_left_at_different_rows(tmp_path, bert_dir):
    """A JSONL and a CSV output interrupted at different rows: each gets only what it lacks, and both
    end as in an uninterrupted run (the JSONL byte for byte; the CSV redoes its last review, alone)."""
    src = tmp_path / "in.txt"
    src.write_text("".join(f"review {i} says the battery is {'great' if i % 2 else 'awful'}\n" for i in range(1, 9)))
    common = ["explain", "-i", src, "--model", bert_dir, "--method", "ig", "--steps", 8, "-b", 2, "-q"]
    assert run(*common, "-o", tmp_path / "ref.jsonl", "-o", tmp_path / "ref.csv").exit_code == 0
    ref_jsonl, ref_csv = (tmp_path / "ref.jsonl").read_bytes(), (tmp_path / "ref.csv").read_text()
    csv_lines = ref_csv.splitlines(keepends=True)
    (tmp_path / "out.jsonl.partial").write_bytes(b"".join(ref_jsonl.splitlines(keepends=True)[:6]))  # rows 1-6
    first_two = [line for line in csv_lines[1:] if line.split(",")[0] in ("1", "2")]
    (tmp_path / "out.csv.partial").write_text(csv_lines[0] + "".join(first_two))  # rows 1-2
    res = run(*common, "-o", tmp_path / "out.jsonl", "-o", tmp_path / "out.csv", "--resume")
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "out.jsonl").read_bytes() == ref_jsonl
    new, old = (list(csv.DictReader(io.StringIO(t))) for t in ((tmp_path / "out.csv").read_text(), ref_csv))
    assert [{k: v for k, v in r.items() if k != "score"} for r in new] == [
        {k: v for k, v in r.items() if k != "score"} for r in old]
    scale = max(abs(float(r["score"])) for r in old)
    assert [float(r["score"]) for r in new] == pytest.approx([float(r["score"]) for r in old], abs=1e-5 * scale)


def test_resume_with_html_reports_the_rows_this_run_explains(tmp_path, bert_dir):
    """--html of a resumed run holds the reviews that run explains (the last batch of the interrupted
    run and the rest), not those it skips; the whole file renders with ``saliency-cli report``."""
    texts = [f"review {i} says the battery is {'great' if i % 2 else 'awful'}" for i in range(1, 9)]
    src = tmp_path / "in.txt"
    src.write_text("\n".join(texts) + "\n")
    common = ["explain", "-i", src, "--model", bert_dir, "--method", "grad", "-b", 2, "-q"]
    out, page = tmp_path / "out.jsonl", tmp_path / "r.html"
    assert run(*common, "-o", out).exit_code == 0
    (tmp_path / "out.jsonl.partial").write_bytes(b"".join(out.read_bytes().splitlines(keepends=True)[:4]))
    out.unlink()
    res = run(*common, "-o", out, "--html", page, "--resume")
    assert res.exit_code == 0, res.stderr
    html = page.read_text()
    assert [t for t in texts if t in html] == texts[2:]  # rows 3-4 redone, 5-8 new; 1-2 skipped
    assert "6 reviews" in html
    assert run("report", out, "-o", page).exit_code == 0
    assert [t for t in texts if t in page.read_text()] == texts


def test_resume_refuses_other_parameters_or_output(tmp_path, bert_dir):
    out = tmp_path / "rows.jsonl"
    assert run("explain", "x", "--model", bert_dir, "--method", "ig", "--steps", "4", "-q", "-o", out).exit_code == 0
    for change, word in ((["--steps", "8"], "steps"), (["--steps", "4", "--attribute", "logit"], "attribute"),
                         (["--steps", "4", "--normalize", "l1"], "normalization")):
        res = run("explain", "x", "--model", bert_dir, "--method", "ig", "-q", "-o", out, "--resume", *change)
        assert res.exit_code == 1 and word in res.stderr


def test_version_help_and_singular_counts(bert_dir):
    from saliency_cli import __version__

    res = run("--version")
    assert res.exit_code == 0 and res.stdout.strip() == f"saliency-cli {__version__}"
    assert run("-h").exit_code == 0 and "explain" in run("-h").stdout
    helptext = run("explain", "-h").stdout
    assert re.search(r"--steps +INTEGER", helptext) and re.search(r"--noise +FLOAT", helptext)
    assert not re.search(r"<(int|bool|str|float|list\[str\])>", helptext)  # no Python types
    res = run("explain", "one review", "--model", bert_dir, "--method", "grad")
    assert "done: 1 row explained" in res.stderr


def test_readme_quick_start_example_is_confident():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1]
    text = re.search(r'saliency-cli explain "([^"]+)"', quick).group(1)
    res = run("explain", text, "-q", "--method", "gxi")
    assert res.exit_code == 0, res.stderr
    (rec,) = records(res.stdout)
    assert rec["prediction"]["probs"][rec["prediction"]["label"]] >= 0.8


def test_a_folder_of_shards_with_a_broken_one_and_parquet_in(tmp_path, bert_dir):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    (folder / "b.jsonl").write_text('{"text": "fine"}\n{not json\n')
    out, errors = tmp_path / "o.csv", tmp_path / "errors.jsonl"
    res = run("explain", "-i", folder, "--model", bert_dir, "--method", "grad", "-o", out, "--errors", errors,
              "--level", "word")
    assert res.exit_code == 3
    assert "skipped row 2 of b.jsonl: malformed JSON" in res.stderr and "done: 4 rows explained, 1 failed" in res.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0])[:2] == ["source", "id"]
    assert sorted({(r["source"], r["id"]) for r in rows}) == [("a.jsonl", "1"), ("a.jsonl", "2"), ("a.jsonl", "3"),
                                                              ("b.jsonl", "1")]
    assert records(errors.read_text()) == [{"source": "b.jsonl", "row": 2, "id": None,
                                            "error": "malformed JSON: Expecting property name enclosed in double "
                                                     "quotes (line 2, column 2)"}]
    (folder / "c.csv").write_text("text\nx\n")
    res = run("explain", "-i", folder, "--model", bert_dir)
    assert res.exit_code == 1 and res.stdout == "" and len(res.stderr.strip().splitlines()) == 1
    assert "holds files of several formats" in res.stderr
    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"review": TEXTS, "key": ["k1", "k2", "k3"]}), table)
    res = run("explain", "-i", table, "--text-field", "review", "--id-field", "key", "--model", bert_dir,
              "--method", "grad", "-q")
    assert res.exit_code == 0, res.stderr
    assert [(r["id"], r["source"], r["row"], r["text"]) for r in records(res.stdout)] == [
        ("k1", "t.parquet", 1, TEXTS[0]), ("k2", "t.parquet", 2, TEXTS[1]), ("k3", "t.parquet", 3, TEXTS[2])]

"""The command line end to end: outputs, exit codes, stdout purity, errors, interruption and --resume."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess

import pytest
from typer.testing import CliRunner

from saliency_cli.cli import app
from saliency_cli.settings import parse_size
from tests.factories import cli_process, method_rows, wait_for_lines

runner = CliRunner()
TEXT = "Not buying it any sooner! Other brands do a much better job"


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_explain_text_argument_to_jsonl_stdout(bert_dir):
    res = run("explain", TEXT, "--model", str(bert_dir), "--method", "ig", "--method", "grad", "--quiet")
    assert res.exit_code == 0, res.stderr
    recs = records(res.stdout)
    assert [r["method"] for r in recs] == ["integrated-gradients", "gradient"]
    r = recs[0]
    assert r["id"] == "1" and r["text"] == TEXT and r["params"]["steps"] == 50 and r["params"]["baseline"] == "pad"
    assert set(r["prediction"]["probs"]) == {"negative", "neutral", "positive"}
    assert r["target"]["label"] == r["prediction"]["label"] and abs(r["delta"]) < 1e-3
    assert all(TEXT[w["start"] : w["end"]] == w["word"] for w in r["words"])


def test_csv_input_to_csv_output_with_ids_and_word_level(tmp_path, bert_dir):
    src = tmp_path / "reviews.csv"
    src.write_text('review_id,review\nr1,"Great, really great"\nr2,Awful product\n')
    out = tmp_path / "weights.csv"
    res = run("explain", "--input", str(src), "--text-field", "review", "--id-field", "review_id",
              "-o", str(out), "--model", str(bert_dir), "--method", "gxi", "--level", "word", "--target", "all")
    assert res.exit_code == 0, res.stderr
    assert res.stdout == ""
    rows = list(csv.DictReader(out.open()))
    assert {r["id"] for r in rows} == {"r1", "r2"}
    assert {r["target"] for r in rows} == {"negative", "neutral", "positive"}
    assert [r["word"] for r in rows if r["id"] == "r2" and r["target"] == "positive"] == ["Awful", "product"]


def test_stdin_jsonl_with_two_methods_to_csv(tmp_path, bert_dir):
    data = "\n".join(json.dumps({"text": t}) for t in ["good stuff", "bad stuff"]) + "\n"
    out = tmp_path / "out.csv"
    res = run("explain", "--input", "-", "--format", "jsonl", "--method", "ig", "--method", "smooth-grad",
              "-o", str(out), "--model", str(bert_dir), "--steps", "8", "--samples", "4", input=data)
    assert res.exit_code == 0, res.stderr
    rows = list(csv.DictReader(out.open()))
    assert {(r["id"], r["method"]) for r in rows} == {
        ("1", "integrated-gradients"), ("1", "smooth-grad"), ("2", "integrated-gradients"), ("2", "smooth-grad")}


def test_normalize_l1_sums_to_one(bert_dir):
    res = run("explain", TEXT, "--model", str(bert_dir), "--normalize", "l1", "--method", "gxi", "-q")
    (r,) = records(res.stdout)
    assert r["normalization"] == "l1"
    assert sum(t["score"] for t in r["tokens"] if not t["special"]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--input", "missing.csv"], "input file not found: missing.csv"),
        (["--input", "{csv}", "--text-field", "body"], "column 'body' not found; available columns: id, text"),
        (["x", "--model", "no/such/folder"], "model folder not found"),
        (["x", "--method", "deeplift"], "unknown method 'deeplift'"),
        (["x", "--target", "stars"], "unknown label 'stars'"),
        (["x", "--device", "tpu"], "unknown device"),
        (["x", "--max-memory", "lots"], "cannot read size"),
    ],
)
def test_user_errors_exit_1_with_one_line_and_empty_stdout(tmp_path, bert_dir, args, message):
    csv_path = tmp_path / "in.csv"
    csv_path.write_text("id,text\n1,hi\n")
    args = [a.replace("{csv}", str(csv_path)) for a in args]
    if "--model" not in args:
        args += ["--model", str(bert_dir)]
    res = run("explain", *args)
    assert res.exit_code == 1
    assert res.stdout == ""
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_usage_error_exits_2(bert_dir):
    assert run("explain", "x", "--batch-size", "many").exit_code == 2


def test_bad_rows_exit_3_and_go_to_errors_file(tmp_path, bert_dir):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "a", "text": "good"}\n{"id": "b", "text": \n{"id": "c", "text": ""}\n{"id": "d", "text": "fine"}\n')
    errs = tmp_path / "errors.jsonl"
    out = tmp_path / "out.jsonl"
    res = run("explain", "-i", str(src), "--id-field", "id", "-o", str(out), "--errors", str(errs),
              "--model", str(bert_dir), "--method", "grad")
    assert res.exit_code == 3
    assert [r["id"] for r in records(out.read_text())] == ["a", "d"]
    logged = [json.loads(line) for line in errs.read_text().splitlines()]
    assert [(e["row"], e["id"]) for e in logged] == [(2, None), (3, "c")]
    assert "row 2" in res.stderr and "malformed JSON" in res.stderr and "2 failed" in res.stderr

    res = run("explain", "-i", str(src), "--id-field", "id", "-o", str(out), "--fail-fast",
              "--model", str(bert_dir), "--method", "grad")
    assert res.exit_code == 3 and "--fail-fast" in res.stderr
    assert [r["id"] for r in records(out.read_text())] == ["a"]


def test_resume_logs_each_row_error_once(tmp_path, bert_dir):
    """A resumed run meets the reader's errors of the rows it skips, and those of the batch it redoes,
    again: the errors file must hold each one once, as after an uninterrupted run."""
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "a", "text": "good"}\n{"id": "b", "text": \n{"id": "c", "text": ""}\n'
                    b'{"id": "d", "text": "fine"}\n{"id": "e", "text": "bad"}\n{"id": "f", "text": ""}\n')
    out, errs = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    args = ["explain", "-i", str(src), "-o", str(out), "--errors", str(errs), "--model", str(bert_dir),
            "--method", "grad", "-b", "2", "-q"]
    assert run(*args).exit_code == 3
    whole, logged = out.read_bytes(), errs.read_bytes()
    assert [json.loads(line)["row"] for line in logged.splitlines()] == [2, 3, 6]
    res = run(*args, "--resume")  # a finished file: nothing redone, every error met again
    assert res.exit_code == 3 and "3 already done" in res.stderr
    assert errs.read_bytes() == logged and out.read_bytes() == whole
    # interrupted after row 4, with a torn errors line: rows 1-4 are kept, the batch of rows 3-4 redone
    out.unlink()
    (tmp_path / "out.jsonl.partial").write_bytes(b"".join(whole.splitlines(keepends=True)[:2]))
    errs.write_bytes(b"".join(logged.splitlines(keepends=True)[:2]) + b'{"row": 6, "id": "f", "er')
    assert run(*args, "--resume").exit_code == 3
    assert errs.read_bytes() == logged and out.read_bytes() == whole


def test_faithfulness_to_csv_is_refused_before_any_work(tmp_path):
    """CSV rows have no place for the faithfulness metrics: refused in one line before the model loads
    (the model named here does not exist), nothing written."""
    for outputs in (["-o", tmp_path / "x.csv"], ["-o", tmp_path / "x.jsonl", "-o", tmp_path / "y.csv"],
                    ["-o", tmp_path / "x.txt", "--output-format", "csv"]):
        res = run("explain", "great", "--faithfulness", "--model", str(tmp_path / "no-model"), *map(str, outputs))
        assert res.exit_code == 1 and res.stdout == "", outputs
        assert res.stderr.strip() == ("error: --faithfulness: CSV has no columns for the faithfulness metrics; "
                                      "write JSONL (-o FILE.jsonl), or drop --faithfulness")
    assert list(tmp_path.iterdir()) == []


def test_methods_command_lists_aliases_and_defaults():
    res = run("methods")
    assert res.exit_code == 0
    rows = method_rows(res.stdout)
    for name, aliases in (("integrated-gradients", "ig"), ("smooth-grad", "sg"), ("gradient-x-input", "gxi"),
                          ("gradient", "grad"), ("occlusion", "loo")):
        assert rows.get(name) == aliases
    for word in ("--steps (50)", "--samples (20)", "--noise (0.1)", "--baseline (pad)"):
        assert word in res.stdout


def test_parse_size():
    assert parse_size("512MB") == 512_000_000
    assert parse_size("2GiB") == 2 * 1024**3
    assert parse_size("1000") == 1000


def test_module_entry_point_keeps_stdout_pure(bert_dir):
    proc = cli_process("explain", TEXT, "--model", str(bert_dir), "--method", "grad",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0
    (rec,) = [json.loads(line) for line in out.decode().splitlines()]
    assert rec["method"] == "gradient"
    assert b"Loading" not in out and b"done: 1 row explained" in err


# The reader sniffs the first 64 KB of its input before the first row: the first review is long enough
# that rows 1-5 fill them (it is truncated, like any review longer than the model's limit).
LINES = [f"review number {i} is {'good' if i % 2 else 'bad'} indeed" + (" truly" * 11_000 if i == 1 else "") + "\n"
         for i in range(1, 13)]
PIPED = ["--model", "{model}", "--method", "ig", "--steps", "8", "--batch-size", "2", "-q"]


def piped_run(tmp_path, bert_dir, **kw):
    """A run reading LINES through a pipe, given rows 1-5 only: once rows 1-4 (two batches) are
    written it waits for row 6, so it cannot have finished when the test signals it (no byte count,
    no clock). Also the uninterrupted reference run and the command that resumes, both reading every
    line from stdin as well (records read from stdin have no source)."""
    args = ["-i", "-", "--format", "text", *(a.replace("{model}", str(bert_dir)) for a in PIPED)]
    ref, out = tmp_path / "ref.jsonl", tmp_path / "out.jsonl"
    assert run("explain", *args, "-o", str(ref), input="".join(LINES)).exit_code == 0
    proc = cli_process("explain", *args, "-o", out, stdin=subprocess.PIPE, **kw)
    proc.stdin.write("".join(LINES[:5]).encode())
    proc.stdin.flush()
    wait_for_lines(tmp_path / "out.jsonl.partial", 4, proc)
    return proc, ref, out, lambda: run("explain", *args, "-o", str(out), "--resume", input="".join(LINES))


def test_kill_9_then_resume_equals_uninterrupted_run(tmp_path, bert_dir):
    proc, ref, out, resume = piped_run(tmp_path, bert_dir, stderr=subprocess.DEVNULL)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdin.close()
    partial = tmp_path / "out.jsonl.partial"
    assert not out.exists() and [json.loads(line)["id"] for line in partial.read_text().splitlines()] == ["1", "2", "3", "4"]
    res = resume()
    assert res.exit_code == 0, res.stderr
    assert out.read_bytes() == ref.read_bytes()


def test_ctrl_c_stops_after_the_batch_and_resume_finishes(tmp_path, bert_dir):
    proc, ref, out, resume = piped_run(tmp_path, bert_dir, stderr=subprocess.PIPE)
    proc.send_signal(signal.SIGINT)
    proc.stdin.write("".join(LINES[5:]).encode())  # row 6 completes the batch in progress: then it stops
    proc.stdin.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 130
    assert b"stopping after the current batch" in err and b"--resume" in err
    partial = tmp_path / "out.jsonl.partial"
    assert not out.exists() and [json.loads(line)["id"] for line in partial.read_text().splitlines()] == ["1", "2", "3", "4"]
    res = resume()
    assert res.exit_code == 0, res.stderr
    assert out.read_bytes() == ref.read_bytes()


def test_html_report_from_explain_and_from_saved_jsonl(tmp_path, bert_dir):
    evil = "<script>alert(1)</script> is <img src=x onerror=alert(1)> bad"
    out, page = tmp_path / "o.jsonl", tmp_path / "r.html"
    res = run("explain", evil, "fine product", "--model", str(bert_dir), "--method", "gxi", "-o", str(out),
              "--html", str(page))
    assert res.exit_code == 0, res.stderr
    html = page.read_text()
    assert "<script>alert" not in html and "<img src=x" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    again = tmp_path / "r2.html"
    res = run("report", str(out), "-o", str(again))
    assert res.exit_code == 0 and "2 reviews" in res.stderr
    assert "&lt;img src=x onerror=alert(1)&gt;" in again.read_text()
    assert run("report", str(tmp_path / "none.jsonl"), "-o", str(again)).exit_code == 1


def test_preview_goes_to_stderr_and_stdout_stays_data(sharp_dir):
    res = run("explain", TEXT, "--model", str(sharp_dir), "--method", "gxi", "--preview", "--top-k", "3")
    assert res.exit_code == 0
    (rec,) = records(res.stdout)
    assert "predicted" in res.stderr and "review 1" in res.stderr
    # the top-k table (rank, word, signed score), not the review's text printed above it
    table = re.findall(r"^(\d+) +(\S+) +([+-]\d\S*)$", res.stderr, flags=re.M)
    top = sorted(rec["words"], key=lambda w: -abs(w["score"]))[:3]
    assert [(int(rank), word) for rank, word, _ in table] == [(i, w["word"]) for i, w in enumerate(top, start=1)]
    assert [float(score) for _, _, score in table] == pytest.approx([w["score"] for w in top], rel=1e-3)


def test_long_reviews_warned_once_and_window_mode(tmp_path, bert_dir):
    src = tmp_path / "long.txt"
    src.write_text(("word " * 150 + "\n") * 2 + "short\n")
    res = run("explain", "-i", str(src), "--model", str(bert_dir), "--method", "grad")
    assert res.exit_code == 0
    assert res.stderr.count("truncated (") == 1 and "2 truncated" in res.stderr
    recs = records(res.stdout)
    assert [r["truncated"] for r in recs] == [True, True, False] and recs[0]["dropped_tokens"] > 0
    res = run("explain", "-i", str(src), "--model", str(bert_dir), "--method", "grad", "--long-text", "window")
    recs = records(res.stdout)
    assert [r["truncated"] for r in recs] == [False] * 3 and recs[0]["windows"] > 1
    assert len(recs[0]["words"]) == 150


@pytest.mark.parametrize("method", ["occlusion", "kernel-shap", "lime", "random"])
def test_csv_of_a_perturbation_method_holds_its_jsonl_values(tmp_path, sharp_dir, method):
    """Token and word CSV rows carry exactly the JSONL records' scores, offsets and labels."""
    out = {name: tmp_path / name for name in ("r.jsonl", "t.csv", "w.csv")}
    common = ["explain", TEXT, "great phone", "--model", str(sharp_dir), "--method", method, "--samples", "32",
              "--target", "all", "-q"]
    assert run(*common, "-o", str(out["r.jsonl"]), "-o", str(out["t.csv"])).exit_code == 0
    assert run(*common, "-o", str(out["w.csv"]), "--level", "word").exit_code == 0
    recs = records(out["r.jsonl"].read_text())
    assert len(recs) == 2 * 3 and max(abs(w["score"]) for r in recs for w in r["words"]) > 1e-2
    for level, name in (("token", "t.csv"), ("word", "w.csv")):
        rows = list(csv.DictReader(out[name].open()))
        want = []
        for r in recs:
            head = [r["id"], method, r["target"]["label"], r["prediction"]["label"],
                    str(round(r["prediction"]["probs"][r["prediction"]["label"]], 6))]
            for i, x in enumerate(r[level + "s"]):
                tail = [str(x["special"] and 1 or 0)] if level == "token" else []
                want.append(head + [str(i), x[level], str(x["start"]), str(x["end"])] + tail + [x["score"]])
        got = [[row[k] for k in ("id", "method", "target", "predicted", "probability", "position", level, "start",
                                 "end")] + ([row["special"]] if level == "token" else []) + [float(row["score"])]
               for row in rows]
        assert got == want


def test_max_length_cuts_reviews_where_the_tokenizer_would(bert_dir, tiny_lm):
    text = "the battery is awful but the screen is bright and sharp and the sound is excellent"
    full = tiny_lm.tokenizer.tokenize(text)
    res = run("explain", text, "--model", str(bert_dir), "--method", "grad", "--max-length", "8", "-q")
    assert res.exit_code == 0, res.stderr
    (rec,) = records(res.stdout)
    assert [t["token"] for t in rec["tokens"]] == ["[CLS]", *full[:6], "[SEP]"]
    assert rec["truncated"] and rec["dropped_tokens"] == len(full) - 6
    kept = tiny_lm.tokenizer(text, max_length=8, truncation=True, return_offsets_mapping=True)
    ends = {}  # the words as far as their kept tokens reach
    for wid, (a, b) in zip(kept.word_ids(), kept["offset_mapping"]):
        if wid is not None:
            ends[wid] = (ends.get(wid, (a, b))[0], b)
    assert [w["word"] for w in rec["words"]] == [text[a:b] for a, b in ends.values()]
    res = run("explain", text, "--model", str(bert_dir), "--max-length", "2")
    assert res.exit_code == 1 and "--max-length" in res.stderr


@pytest.mark.parametrize("overlap", [2, 8])
def test_window_overlap_sets_how_far_windows_step(bert_dir, tiny_lm, overlap):
    """Windows of --max-length 16 hold 14 tokens and step by 14 - overlap: ceil((n - overlap) / (14 - overlap))
    windows cover n tokens; every word of the review is kept once."""
    text = "the battery is awful but the screen is bright and sharp and the sound is excellent but the case " \
           "cracked after a week of use and support never answered"
    n = len(tiny_lm.tokenizer.tokenize(text))
    res = run("explain", text, "--model", str(bert_dir), "--method", "grad", "--long-text", "window",
              "--max-length", "16", "--window-overlap", str(overlap), "-q")
    assert res.exit_code == 0, res.stderr
    (rec,) = records(res.stdout)
    assert rec["windows"] == -(-(n - overlap) // (14 - overlap)) and not rec["truncated"]
    assert [w["word"] for w in rec["words"]] == text.split() and len(rec["tokens"]) == n
    res = run("explain", text, "--model", str(bert_dir), "--long-text", "window", "--max-length", "16",
              "--window-overlap", "14")
    assert res.exit_code == 1 and "window overlap must be below 14 tokens" in res.stderr


def test_models_command_describes_the_embedded_model():
    res = run("models", "--json")
    assert res.exit_code == 0
    info = json.loads(res.stdout)
    assert info["labels"] == ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]
    assert info["base"]["verified"] and info["metrics"]["within_one_accuracy"] > 0.8
    res = run("models")
    assert res.exit_code == 0 and "verified (sha256)" in res.stdout and "band 5 stars" in res.stdout


def test_quick_start_runs_offline_on_the_embedded_model():
    res = run("explain", "Terrible product, broke after two days. Total waste of money.", "-q")
    assert res.exit_code == 0, res.stderr
    (rec,) = records(res.stdout)
    assert rec["prediction"]["label"] in ("1 star", "2 stars")
    top = max(rec["words"], key=lambda w: w["score"])["word"]
    assert top in ("Terrible", "waste", "broke")

"""``saliency-cli evaluate`` end to end on a tiny model: outputs, streams, bad rows, --resume."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess

import pytest
from typer.testing import CliRunner

from saliency_cli.cli import app
from tests.factories import cli_process, wait_for_lines

REVIEWS = [
    "Great phone, terrible battery.",
    "The screen is bright and the sound is excellent.",
    "Awful customer service; they never answered my emails.",
    "Works as described, arrived on time, good value for money.",
    "Not buying it any sooner! Other brands do a much better job",
]


def run(*args):
    return CliRunner().invoke(app, ["evaluate", *map(str, args)])


@pytest.fixture()
def reviews_file(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_text("\n".join(REVIEWS) + "\n")
    return path


def test_writes_summary_rows_and_page_and_nothing_on_stdout(bert_dir, reviews_file, tmp_path):
    odd = tmp_path / 'model <b>&"x'
    shutil.copytree(bert_dir, odd)
    out = {k: tmp_path / f"out.{k}" for k in ("json", "html", "jsonl")}
    res = run(reviews_file, "--model", odd, "--method", "gxi", "--method", "loo", "--summary", out["json"],
              "--html", out["html"], "-o", out["jsonl"], "--bootstrap", 200)
    assert res.exit_code == 0, res.stderr
    assert res.stdout == ""
    assert "rank" in res.stderr and "random" in res.stderr and "one model" in res.stderr
    summary = json.loads(out["json"].read_text())
    assert list(summary["methods"]) == ["gradient-x-input", "occlusion", "random"]
    assert summary["rows"] == 5 and summary["failed"] == 0 and summary["bootstrap"]["resamples"] == 200
    # the ranking from the rows: per review, each method's comprehensiveness - sufficiency ranked (1 =
    # best, ties share), the methods ordered by their mean rank
    rows_by_review: dict[str, dict[str, float]] = {}
    for r in (json.loads(line) for line in out["jsonl"].read_text().splitlines()):
        f = r["faithfulness"]
        rows_by_review.setdefault(r["id"], {})[r["method"]] = f["comprehensiveness"] - f["sufficiency"]
    mean_rank = {m: sum(1 + sum(o > s[m] for o in s.values()) + 0.5 * (sum(o == s[m] for o in s.values()) - 1)
                        for s in rows_by_review.values()) / 5 for m in summary["methods"]}
    for m, entry in summary["methods"].items():
        assert entry["mean_rank"] == pytest.approx(mean_rank[m], abs=1e-12)
    assert summary["ranking"] == sorted(mean_rank, key=lambda m: (mean_rank[m], m))
    assert len(set(mean_rank.values())) == 3  # an order, not ties
    rows = [json.loads(line) for line in out["jsonl"].read_text().splitlines()]
    assert len(rows) == 15 and all("faithfulness" in r for r in rows)
    comp = [r["faithfulness"]["comprehensiveness"] for r in rows if r["method"] == "occlusion"]
    assert summary["methods"]["occlusion"]["comprehensiveness"]["mean"] == pytest.approx(sum(comp) / 5, abs=1e-12)
    page = out["html"].read_text()
    assert "Content-Security-Policy" in page and "<script" not in page.lower()
    assert page.count("<svg") >= 2 and "<polyline" in page
    assert "model &lt;b&gt;&amp;&quot;x" in page and "<b>&" not in page


def test_summary_to_stdout(bert_dir, reviews_file):
    res = run(reviews_file, "--model", bert_dir, "--method", "grad", "--summary", "-", "-q", "--bootstrap", 50)
    assert res.exit_code == 0, res.stderr
    summary = json.loads(res.stdout)
    assert set(summary["methods"]) == {"gradient", "random"} and res.stderr == ""


def test_a_bad_row_is_reported_and_left_out(bert_dir, tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in [REVIEWS[0], "", REVIEWS[1]]) + "\n")
    summary = tmp_path / "s.json"
    res = run(path, "--model", bert_dir, "--method", "grad", "--summary", summary, "-q", "--bootstrap", 50)
    assert res.exit_code == 3
    assert "row 2" in res.stderr
    data = json.loads(summary.read_text())
    assert data["rows"] == 2 and data["failed"] == 1


@pytest.mark.parametrize("args, message", [
    (["-o", "rows.csv"], "JSONL"),
    (["--resume"], "--resume needs -o"),
    (["--summary", "-", "--html", "-"], "only one"),
    (["--bootstrap", "0"], "--bootstrap"),
    (["--method", "nope"], "unknown method"),
])
def test_user_errors_are_one_line_and_exit_1(bert_dir, reviews_file, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    res = run(reviews_file, "--model", bert_dir, *args)
    assert res.exit_code == 1 and message in res.stderr and res.stdout == ""


def test_resume_counts_the_rows_already_written(bert_dir, reviews_file, tmp_path):
    common = ["--model", bert_dir, "--method", "gxi", "-b", 1, "-q", "--bootstrap", 100]
    full_rows, full = tmp_path / "full.jsonl", tmp_path / "full.json"
    assert run(reviews_file, *common, "-o", full_rows, "--summary", full).exit_code == 0
    rows, part = tmp_path / "rows.jsonl", tmp_path / "part.json"
    lines = full_rows.read_text().splitlines(keepends=True)
    (tmp_path / "rows.jsonl.partial").write_text("".join(lines[:4]))  # two reviews x 2 methods, as if interrupted
    res = run(reviews_file, *common, "-o", rows, "--summary", part, "--resume")
    assert res.exit_code == 0, res.stderr
    assert rows.read_text() == full_rows.read_text()
    resumed, whole = json.loads(part.read_text()), json.loads(full.read_text())
    for m in whole["methods"]:
        want = whole["methods"][m].pop("curve")
        for k, v in resumed["methods"][m].pop("curve").items():
            assert v == pytest.approx(want[k], abs=1e-12)
    assert resumed == whole


def test_rationales_add_plausibility_and_a_bad_rationale_is_reported_not_fatal(bert_dir, tmp_path):
    path = tmp_path / "reviews.jsonl"
    given = [{"text": REVIEWS[0], "why": ["terrible", "battery"], "stars": "negative"},
             {"text": REVIEWS[1], "why": [[4, 10]]},  # "screen"
             {"text": REVIEWS[2], "why": ["awful", "unicorn"]},
             {"text": REVIEWS[3], "why": "not json"},
             {"text": REVIEWS[4]}]
    path.write_text("".join(json.dumps(g) + "\n" for g in given))
    out = {k: tmp_path / f"out.{k}" for k in ("json", "html", "jsonl")}
    res = run(path, "--model", bert_dir, "--method", "gxi", "--rationale-field", "why", "--label-field", "stars",
              "--summary", out["json"], "--html", out["html"], "-o", out["jsonl"], "--bootstrap", 50)
    assert res.exit_code == 0, res.stderr
    assert "plausibility against your rationales" in res.stderr
    assert "row 3: rationale entries not found in the review: 'unicorn'" in res.stderr
    assert "row 4: unreadable rationale: not JSON" in res.stderr
    rows = [json.loads(line) for line in out["jsonl"].read_text().splitlines()]
    assert [r["label"] for r in rows[::2]] == ["negative", None, None, None, None]
    assert [r.get("plausibility") is not None for r in rows[::2]] == [True] * 4 + [False]
    first = rows[0]
    top2 = {w["word"] for w in sorted(first["words"], key=lambda w: -w["score"])[:2]}
    assert first["plausibility"]["token_f1"] == len(top2 & {"terrible", "battery"}) / 2
    assert rows[2]["plausibility"]["k"] == 1 and rows[2]["plausibility"]["unmatched"] == []
    summary = json.loads(out["json"].read_text())
    assert summary["methods"]["gradient-x-input"]["token_f1"]["n"] == 3 and summary["rationale_problems"] == 2
    assert "token F1" in out["html"].read_text()
def test_ctrl_c_keeps_the_finished_reviews_and_exits_130(bert_dir, tmp_path):
    """A first Ctrl-C stops after the batch in progress: the summary covers the reviews finished, the
    rows file waits for --resume, exit 130. The run reads a pipe it is given rows 1-5 of, so it is
    still running when the signal comes (it waits for row 6)."""
    first = "the first review is long " + "truly " * 11_000  # the reader sniffs 64 KB before the first row
    lines = [first] + [f"review {i} of the battery" for i in range(2, 13)]
    rows, summary = tmp_path / "rows.jsonl", tmp_path / "s.json"
    proc = cli_process("evaluate", "-", "--format", "text", "--model", bert_dir, "--method", "grad", "-b", 2,
                       "--bootstrap", 20, "-o", rows, "--summary", summary, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write("".join(line + "\n" for line in lines[:5]).encode())
    proc.stdin.flush()
    wait_for_lines(tmp_path / "rows.jsonl.partial", 8, proc)  # rows 1-4, gradient and random
    proc.send_signal(signal.SIGINT)
    proc.stdin.write("".join(line + "\n" for line in lines[5:]).encode())
    proc.stdin.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 130
    assert "interrupted: the summary covers the 4 reviews finished; rerun with --resume" in err
    data = json.loads(summary.read_text())
    assert data["interrupted"] and data["rows"] == 4
    kept = [json.loads(line) for line in (tmp_path / "rows.jsonl.partial").read_text().splitlines()]
    assert [(r["id"], r["method"]) for r in kept] == [(str(i), m) for i in range(1, 5) for m in ("gradient", "random")]
    assert not rows.exists()

"""Reading results JSONL back, and the scored spans shared by the report and the preview."""

from __future__ import annotations

import dataclasses
import html
import io
import json
import re
import sys

import pytest

from saliency_cli.report.html import render_report_from_results
from saliency_cli.records import SCHEMA_VERSION, Explanation, Prediction, RowError, Target, TokenScore, WordScore
from saliency_cli.outputs.formats import LEVELS, check_level
from saliency_cli.outputs.paths import OutputError
from saliency_cli.outputs.saved import read_results
from saliency_cli.report.spans import Span, spans
from saliency_cli.outputs.saved_csv import CSV_PARAMS, csv_note, is_from_csv
from saliency_cli.outputs.formats import TOKEN_COLUMNS, WORD_COLUMNS
from saliency_cli.outputs.writers import ResultWriter
from tests.factories import make_explanation


def explanations() -> list[Explanation]:
    return [
        make_explanation("a", "Great film, truly great.", delta=0.01, row=1),
        make_explanation("a", "Great film, truly great.", method="gradient", row=1),
        make_explanation("b\u00e9", "Bad \u2014 \U0001f600 <b>", label="negative", truncated=True, row=2, params={"k": [1]}),
    ]


def write_lines(path, lines) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_valid_records_round_trip_from_a_file(tmp_path):
    exps = explanations()
    src = tmp_path / "results.jsonl"
    write_lines(src, [json.dumps(e.to_dict(), ensure_ascii=False) for e in exps])
    assert list(read_results(src)) == exps
    assert list(read_results(str(src), "named")) == exps


def test_lines_and_stdin_sources(monkeypatch):
    exps = explanations()
    lines = [json.dumps(e.to_dict()) + "\n" for e in exps]
    assert list(read_results(lines)) == exps
    assert list(read_results(iter(lines), "x.jsonl")) == exps
    data = "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in exps).encode("utf-8")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="latin-1"))
    assert list(read_results("-")) == exps
    assert not sys.stdin.closed


def test_error_records_and_blank_lines(tmp_path):
    exps = explanations()
    src = tmp_path / "results.jsonl"
    write_lines(src, [
        json.dumps(exps[0].to_dict()),
        "",
        "   ",
        json.dumps({"row": 7, "id": "r7", "error": "empty text"}),
        json.dumps({"row": None, "id": None, "error": 3}),
        json.dumps(exps[2].to_dict()),
    ])
    assert list(read_results(src)) == [exps[0], RowError(7, "r7", "empty text"), RowError(0, None, "3"), exps[2]]


@pytest.mark.parametrize(
    "bad, message",
    [
        ("{not json", r"not valid JSON \(Expecting property name enclosed in double quotes, column 2\)"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('"text"', "expected a JSON object, got str"),
        ('{"id": "x"}', "not an explanation record: missing field 'prediction'"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, bad, message):
    src = tmp_path / "results.jsonl"
    write_lines(src, [json.dumps(explanations()[0].to_dict()), "", bad])
    records = read_results(src)
    assert next(records) == explanations()[0]  # records stream: the bad line fails when reached
    with pytest.raises(ValueError, match=rf"^{re.escape(str(src))}:3: {message}"):
        next(records)
    with pytest.raises(ValueError, match=rf"^<input>:1: {message}"):
        list(read_results([bad]))


def test_schema_mismatch(tmp_path):
    record = {**explanations()[0].to_dict(), "schema": SCHEMA_VERSION + 1}
    with pytest.raises(ValueError, match=rf"^r\.jsonl:2: unsupported schema version {SCHEMA_VERSION + 1} \(expected {SCHEMA_VERSION}\)"):
        list(read_results(["\n", json.dumps(record)], "r.jsonl"))
    without = explanations()[0].to_dict()
    del without["schema"]
    assert list(read_results([json.dumps(without)])) == explanations()[:1]


def test_spans_by_level():
    exp = make_explanation("t", "Wonderful acting, ok", [0.8, -0.4, 0.1, 0.3])
    assert spans(exp, "word") == [
        Span(0, 9, 0.8, "Wonderful"), Span(10, 16, -0.4, "acting"), Span(16, 17, 0.1, ","), Span(18, 20, 0.3, "ok")
    ]
    tokens = spans(exp, "token")
    assert [s.label for s in tokens] == ["won", "##derful", "act", "##ing", ",", "ok"]
    assert [(s.start, s.end) for s in tokens] == [(0, 3), (3, 9), (10, 13), (13, 16), (16, 17), (18, 20)]


def test_spans_sort_by_position_and_drop_special_or_empty_tokens():
    exp = make_explanation("t", "Hello world", [0.5, -0.5])
    shuffled = (TokenScore("world", 6, 11, -0.5, False), TokenScore("[CLS]", 0, 0, 0.0, True),
                TokenScore("", 5, 5, 0.9, False), TokenScore("hello", 0, 5, 0.5, False))
    exp = dataclasses.replace(exp, tokens=shuffled, words=tuple(reversed(exp.words)))
    assert spans(exp, "token") == [Span(0, 5, 0.5, "hello"), Span(6, 11, -0.5, "world")]
    assert [s.label for s in spans(exp, "word")] == ["Hello", "world"]


def test_check_level():
    assert LEVELS == ("token", "word")
    for level in LEVELS:
        check_level(level)
    with pytest.raises(OutputError, match="unknown --level 'char'; choose from token, word"):
        check_level("char")


# --- explain's CSV ----------------------------------------------------------------------------

XSS = "<script>alert(1)</script> & <img src=x onerror=alert(1)>"
SPACED = "An absolute delight,  from start to finish.\nLoved it!"


def csv_reviews() -> list[list[Explanation]]:
    """Reviews as ``explain`` writes them: one block per review, several methods / targets each."""
    return [
        [make_explanation("a", "Great film, truly great.", delta=0.01),
         make_explanation("a", "Great film, truly great.", method="gradient")],
        [make_explanation("b\u00e9", XSS, label="negative", truncated=True),
         make_explanation("b\u00e9", XSS, label="negative", target="positive")],
        [make_explanation("c", SPACED, probs={"positive": 0.123456789, "negative": 0.876543211})],
    ]


def write_csv(path, level: str, reviews=None) -> list[Explanation]:
    reviews = csv_reviews() if reviews is None else reviews
    writer = ResultWriter(str(path), "csv", level)
    for review in reviews:
        writer.write(review)
    writer.close(complete=True)
    return [e for review in reviews for e in review]


def keys(exps) -> list[tuple[str, str, str]]:
    return [(e.id, e.method, e.target.label) for e in exps]


def test_csv_word_level_round_trip(tmp_path):
    src = tmp_path / "rows.csv"
    originals = write_csv(src, "word")
    assert src.read_text(encoding="utf-8").splitlines()[0] == ",".join(WORD_COLUMNS)
    got = list(read_results(src))
    assert keys(got) == keys(originals) == [
        ("a", "integrated_gradients", "positive"), ("a", "gradient", "positive"),
        ("b\u00e9", "integrated_gradients", "negative"), ("b\u00e9", "integrated_gradients", "positive"),
        ("c", "integrated_gradients", "positive"),
    ]
    for exp, orig in zip(got, originals):
        assert exp.words == orig.words  # words, spans and exact scores
        assert all(exp.text[w.start:w.end] == w.word for w in exp.words)
        assert exp.text == orig.text.replace("\n", " ")  # gaps become spaces of the same width
        assert exp.tokens == ()
        assert exp.prediction == Prediction(orig.prediction.label, -1, {orig.prediction.label: round(orig.prediction.probs[orig.prediction.label], 6)})
        assert exp.target == Target(orig.target.label, -1)
        assert (exp.model, exp.params, exp.row, exp.delta, exp.truncated) == ("", CSV_PARAMS, None, None, False)
        assert is_from_csv(exp) and not is_from_csv(orig)
        assert csv_note(exp) == "from CSV: text rebuilt from the words"
        assert csv_note(orig) is None
    assert got[4].prediction.probs == {"positive": 0.123457}
    assert got[2].text == XSS


def test_csv_token_level_round_trip(tmp_path):
    src = tmp_path / "rows.csv"
    originals = write_csv(src, "token")
    got = list(read_results(src))
    assert keys(got) == keys(originals)
    for exp, orig in zip(got, originals):
        assert exp.tokens == orig.tokens  # special tokens included, exact scores, file order
        assert exp.text == orig.text.replace("\n", " ").lower()  # the factory's tokens are lower-cased words
        shown = [t for t in orig.tokens if not t.special]
        assert exp.words == tuple(WordScore(exp.text[t.start:t.end], t.start, t.end, t.score) for t in shown)
        assert all(exp.text[w.start:w.end] == w.word for w in exp.words)
        assert [(s.start, s.end, s.score) for s in spans(exp, "token")] == [(s.start, s.end, s.score) for s in spans(orig, "token")]
        assert csv_note(exp) == "from CSV: text rebuilt from the tokens"
    assert [w.word for w in got[0].words] == ["great", "film", ",", "truly", "great", "."]
    assert [w.word for w in got[4].words][:4] == ["an", "abs", "olute", "del"]  # tokens are not merged
    assert "[CLS]" not in got[0].text and got[0].tokens[0] == TokenScore("[CLS]", 0, 0, 0.0, True)


def test_csv_token_markers_and_tokens_that_do_not_fill_their_span(tmp_path):
    exp = dataclasses.replace(
        make_explanation("m", "caf\u00e9  ok fine"),
        tokens=(
            TokenScore("<s>", 0, 0, 0.0, True),
            TokenScore("caf\u00c3\u00a9", 0, 4, 0.5, False),  # byte-level BPE: 5 characters for 4
            TokenScore("\u0120ok", 6, 8, -0.25, False),
            TokenScore("\u2581fi", 9, 11, 0.125, False),
            TokenScore("##ne", 11, 13, 0.0625, False),
            TokenScore("", 13, 13, 1.0, False),
            TokenScore("</s>", 0, 0, 0.0, True),
        ),
    )
    src = tmp_path / "rows.csv"
    write_csv(src, "token", [[exp]])
    (got,) = read_results(src)
    assert got.text == "\ufffd" * 4 + "  ok fine"
    assert got.tokens == exp.tokens
    assert [(w.word, w.start, w.end, w.score) for w in got.words] == [
        ("\ufffd" * 4, 0, 4, 0.5), ("ok", 6, 8, -0.25), ("fi", 9, 11, 0.125), ("ne", 11, 13, 0.0625)
    ]


def test_csv_from_path_stdin_and_lines(tmp_path, monkeypatch):
    src = tmp_path / "rows.csv"
    write_csv(src, "word")
    expected = list(read_results(src))
    data = src.read_bytes()
    lines = data.decode("utf-8").splitlines(keepends=True)
    assert list(read_results(str(src), "named.csv")) == expected
    assert list(read_results(lines)) == expected
    assert list(read_results(iter(lines), "x.csv")) == expected
    assert list(read_results([line.rstrip("\n") for line in lines])) == expected
    assert list(read_results(["\ufeff" + lines[0].replace("\n", "\r\n")] + lines[1:])) == expected
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="latin-1"))
    assert list(read_results("-")) == expected
    assert not sys.stdin.closed


def test_csv_quoted_newlines_blank_lines_and_empty_files(tmp_path):
    src = tmp_path / "rows.csv"
    write_csv(src, "token", [[make_explanation("x\ny", "Hi, there")], [make_explanation("z", "Bye")]])
    text = src.read_text(encoding="utf-8")
    assert text.count("\n") > 1 + 6 + 3  # the id's line break is inside quotes
    with open(src, "a", encoding="utf-8") as fh:
        fh.write("\n   \nz,m,positive,positive,0.9,0,bye,0,three,0.5,0\n")
    records = read_results(src)
    assert next(records).id == "x\ny"
    lineno = text.count("\n") + 3  # counted over the quoted line break and the blank lines
    with pytest.raises(ValueError, match=rf"^{re.escape(str(src))}:{lineno}: end must be an integer, not 'three'$"):
        next(records)  # "z" is complete only once the next row is read
    assert [e.id for e in read_results(text.splitlines(keepends=True))] == ["x\ny", "z"]
    assert list(read_results([",".join(TOKEN_COLUMNS) + "\n"])) == []
    assert list(read_results([",".join(WORD_COLUMNS), "", "  "])) == []
    assert list(read_results([])) == []


HEAD = ",".join(WORD_COLUMNS)
GOOD = "a,ig,pos,pos,0.5,0,Nice,0,4,0.25"


@pytest.mark.parametrize(
    "bad, message",
    [
        ("a,ig,pos,pos,0.5,0,Nice,0,4", r"expected 10 CSV fields \(id,method,.*,score\), got 9"),
        ("a,ig,pos,pos,0.5,0,Nice,0,4,0.25,1", "expected 10 CSV fields .*, got 11"),
        ("a,ig,pos,pos,0.5,x,Nice,0,4,0.25", "position must be an integer, not 'x'"),
        ("a,ig,pos,pos,0.5,1,Nice,-1,4,0.25", "start must not be negative, not -1"),
        ("a,ig,pos,pos,0.5,1,Nice,4,0,0.25", "end 0 is before start 4"),
        ("a,ig,pos,pos,high,1,Nice,0,4,0.25", "probability must be a number, not 'high'"),
        ("a,ig,pos,pos,0.5,1,Nice,0,4,", "score must be a number, not ''"),
        ("a,ig,pos,pos,0.5,1,Nicer,5,9,0.25", r"word 'Nicer' \(5 characters\) does not fit its span \[5, 9\)"),
        ("a,ig,pos,pos,0.5,1,Nixe,0,4,0.25", "word 'Nice' overlaps another word that disagrees with it"),
        ("a,ig,pos,neg,0.5,1,day,5,8,0.25", r"predicted 'neg' \(0.5\) differs from 'pos' \(0.5\) on src.csv:2 of the same explanation"),
        ('a,ig,pos,pos,0.5,1,"Ni"ce,0,4,0.25', r"not valid CSV \('.*' expected after '\"'\)"),
    ],
)
def test_csv_malformed_row_names_file_and_line(bad, message):
    records = read_results([HEAD, GOOD, bad], "src.csv")
    line = 2 if "overlaps" in message else 3
    with pytest.raises(ValueError, match=rf"^src\.csv:{line}: {message}$"):
        list(records)


def test_csv_token_special_flag_is_checked():
    head = ",".join(TOKEN_COLUMNS)
    assert [t.special for t in next(read_results([head, "a,ig,p,p,1,0,[CLS],0,0,0,1", "a,ig,p,p,1,1,hi,0,2,1,0"])).tokens] == [True, False]
    with pytest.raises(ValueError, match=r"^<input>:2: special must be 0 or 1, not 'yes'$"):
        list(read_results([head, "a,ig,p,p,1,0,hi,0,2,1,yes"]))


def test_only_explains_exact_header_is_csv():
    other = "review_id,text"  # an input CSV, not results: read as JSONL and rejected
    with pytest.raises(ValueError, match=r"^in\.csv:1: not valid JSON"):
        list(read_results([other, "1,Nice"], "in.csv"))
    with pytest.raises(ValueError, match=r"^<input>:1: not valid JSON"):
        list(read_results([HEAD.upper(), GOOD]))


@pytest.mark.parametrize("level", ["word", "token"])
def test_report_from_csv(tmp_path, level):
    src = tmp_path / "rows.csv"
    originals = write_csv(src, level)
    out = tmp_path / "report.html"
    assert render_report_from_results(src, out, level=level) == 3
    page = out.read_text(encoding="utf-8")
    for exp in read_results(src):
        for w in exp.words:  # every word highlighted, escaped
            assert f">{html.escape(w.word)}<i> (" in page
    assert "<script" not in page and "<img" not in page
    assert html.escape(XSS) in page  # the review snippet
    assert "source=<b>csv</b>" in page
    assert "90.0%" in page and "12.3%" in page
    assert page.count('class="ex ') == len(originals)
    assert 'id="r2"' in page and 'id="r3"' not in page


def test_report_from_csv_on_stdin(tmp_path, monkeypatch):
    src = tmp_path / "rows.csv"
    write_csv(src, "word")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(src.read_bytes()), encoding="utf-8"))
    out = tmp_path / "report.html"
    assert render_report_from_results("-", out) == 3
    assert html.escape(XSS) in out.read_text(encoding="utf-8")

"""Reading results JSONL back, and the scored spans shared by the report and the preview."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import sys

import pytest

from saliency_cli.records import SCHEMA_VERSION, Explanation, RowError, TokenScore
from saliency_cli.results import LEVELS, Span, check_level, read_results, spans
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
        ("{not json", r"not valid JSON \(Expecting property name enclosed in double quotes at column 2\)"),
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
    assert LEVELS == ("word", "token")
    for level in LEVELS:
        check_level(level)
    with pytest.raises(ValueError, match="level must be one of word, token, not 'char'"):
        check_level("char")

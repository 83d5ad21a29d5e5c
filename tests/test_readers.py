"""Input formats, auto-detection and row-level errors (real files, bad bytes included)."""

from __future__ import annotations

import io

import pytest

from saliency_cli.readers import InputError, InputSpec, detect_format, open_reviews
from saliency_cli.records import Review, RowError


def read(path, **kw):
    return list(open_reviews(InputSpec(path=str(path), **kw)))


def test_text_file_one_review_per_non_empty_line(tmp_path):
    p = tmp_path / "r.txt"
    p.write_bytes(b"\xef\xbb\xbffirst review\r\n\n   \nthird line\n")
    out = read(p)
    assert [(r.id, r.text, r.row) for r in out] == [("1", "first review", 1), ("4", "third line", 4)]


def test_csv_quoted_newlines_commas_bom_and_ids(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes('\ufeffreview_id,review,stars\nA7,"Good, but\nslow",3\nB2,"She said ""wow""",5\n'.encode())
    out = read(p, text_field="review", id_field="review_id")
    assert out == [Review("A7", "Good, but\nslow", 1), Review("B2", 'She said "wow"', 2)]


@pytest.mark.parametrize("sep,name", [(";", "r.csv"), ("\t", "r.tsv"), ("|", "r.csv")])
def test_other_delimiters_are_detected(tmp_path, sep, name):
    p = tmp_path / name
    p.write_text(f"id{sep}text\n1{sep}hello there\n2{sep}bye now\n")
    assert [r.text for r in read(p)] == ["hello there", "bye now"]


def test_csv_row_errors_do_not_lose_other_rows(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(b"id,text\n1,fine\n2,\n3,caf\xe9 latin1\n1,duplicate\n4,a,b\n5,last\n")
    out = read(p, id_field="id")
    good = [r.text for r in out if isinstance(r, Review)]
    errors = {e.row: e.error for e in out if isinstance(e, RowError)}
    assert good == ["fine", "last"]
    assert "empty" in errors[2]
    assert "encoding" in errors[3]
    assert "duplicate id '1'" in errors[4]
    assert any("malformed CSV at line 6" in e for e in errors.values())


def test_latin1_file_reads_with_encoding_option(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes("text\ncafé crème\n".encode("latin-1"))
    assert [r.text for r in read(p, encoding="latin-1")] == ["café crème"]
    with pytest.raises(InputError, match="unknown --encoding"):
        read(p, encoding="klingon")


def test_jsonl_row_errors(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_bytes(
        b'{"id": 10, "body": "one"}\n{"id": 11, "body": \n{"id": 12, "body": null}\n'
        b'{"id": 13, "body": "   "}\n[1, 2]\n{"id": 14, "body": "caf\xe9"}\n{"id": 15, "body": 7}\n{"id": 16, "body": "two"}\n'
    )
    out = read(p, text_field="body", id_field="id")
    assert [r.id for r in out if isinstance(r, Review)] == ["10", "16"]
    errors = {e.row: e.error for e in out if isinstance(e, RowError)}
    assert "malformed JSON" in errors[2]
    assert "missing or null" in errors[3]
    assert "empty" in errors[4]
    assert "JSON object" in errors[5]
    assert "not valid utf-8" in errors[6] and "--encoding" in errors[6]
    assert "not a string" in errors[7]


def test_unknown_field_or_column_is_a_user_error_listing_what_exists(tmp_path):
    c = tmp_path / "r.csv"
    c.write_text("review_id,review\n1,hi\n")
    with pytest.raises(InputError, match="column 'text' not found; available columns: review_id, review"):
        read(c)
    j = tmp_path / "r.jsonl"
    j.write_text('{"review": "hi", "stars": 3}\n')
    with pytest.raises(InputError, match="field 'text' not found.*review, stars"):
        read(j)


def test_missing_empty_and_directory_inputs(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read(tmp_path / "nope.csv")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(InputError, match="empty"):
        read(tmp_path / "empty.txt")
    with pytest.raises(InputError, match="directory"):
        read(tmp_path)


def test_stdin_with_content_detection(monkeypatch):
    monkeypatch.setattr("saliency_cli.readers._stdin_binary", lambda: io.BytesIO(b'{"text": "from stdin"}\n'))
    assert [r.text for r in open_reviews(InputSpec(path="-"))] == ["from stdin"]


def test_detect_format():
    assert detect_format("a.jsonl", b"", "text") == "jsonl"
    assert detect_format("-", b'{"text": 1}', "text") == "jsonl"
    assert detect_format("-", b"id,text\n1,a", "text") == "csv"
    assert detect_format("-", b"id\ttext\n1\ta", "text") == "tsv"
    assert detect_format("-", b"just a review", "text") == "text"


def test_unusual_texts_are_kept_verbatim(tmp_path):
    texts = ["😀😀🔥", "!!! ???", "هذا المنتج رائع", "Great product, sehr gut, très bien"]
    p = tmp_path / "r.txt"
    p.write_text("\n".join(texts) + "\n", encoding="utf-8")
    assert [r.text for r in read(p)] == texts


def test_arguments_become_reviews():
    out = list(open_reviews(InputSpec(texts=("a", "  "))))
    assert isinstance(out[0], Review) and isinstance(out[1], RowError)
    with pytest.raises(InputError, match="no reviews given"):
        open_reviews(InputSpec())

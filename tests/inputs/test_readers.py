"""Input formats, auto-detection and row-level errors (real files, bad bytes included)."""

from __future__ import annotations

import io
import os
import sys
from dataclasses import replace
from itertools import islice

import pytest

from saliency_cli.inputs import InputError, InputSpec, detect_format, estimate_rows, open_reviews, stdin_is_piped
from saliency_cli.records import Review, RowError


def read(path, **kw):
    """The items of one file, which all name it (its file name) as their source; returned without it."""
    items = list(open_reviews(InputSpec(path=str(path), **kw)))
    assert {i.source for i in items} <= {os.path.basename(path)}
    return [replace(i, source=None) for i in items]


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
    with pytest.raises(InputError, match="every file of .* is empty"):
        read(tmp_path)  # a folder: its files of a known format


def stdin(monkeypatch, raw):
    """``sys.stdin`` reading ``raw`` (a binary stream), as a pipe would give it."""
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(raw, encoding="utf-8"))


def test_stdin_with_content_detection(monkeypatch):
    stdin(monkeypatch, io.BytesIO(b'{"text": "from stdin"}\n'))
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


BROKEN_QUOTE = b'id,text\na,"fine product\nb,second review is good\nc,third one\n'


def test_broken_quote_does_not_swallow_the_following_rows(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(BROKEN_QUOTE)
    bad, *good = read(p, id_field="id")
    assert isinstance(bad, RowError) and (bad.row, bad.id) == (1, "a")
    assert bad.error.startswith("malformed CSV at line 2: unclosed quote")
    assert good == [Review("b", "second review is good", 2), Review("c", "third one", 3)]


def test_broken_quote_counts_as_a_record_for_row_number_ids(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(BROKEN_QUOTE)
    bad, *good = read(p, row_ids=True)
    assert isinstance(bad, RowError) and (bad.row, bad.id) == (1, "1") and "at line 2" in bad.error
    assert [(r.id, r.row) for r in good] == [("2", 2), ("3", 3)]


def test_unclosed_quote_at_end_of_file(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(b'id,text\n1,good one\n2,"never closed, at the end')
    good, bad = read(p)
    assert good == Review("1", "good one", 1)
    assert (bad.row, bad.id) == (2, "2")
    assert bad.error == "malformed CSV at line 3: unclosed quote (the quoted field runs to the end of the file)"


def test_too_many_fields_in_the_middle(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(b"id,text\n1,first\n2,second,extra\n3,third\n")
    out = read(p)
    assert out[0] == Review("1", "first", 1) and out[2] == Review("3", "third", 3)
    assert out[1] == RowError(2, "2", "malformed CSV at line 3: wrong number of fields (expected 2, saw 3)")


def test_broken_quote_closed_later_is_caught_and_lines_after_it_are_reread(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(
        b'id,text\n1,a\n2,"opened\n3,fine\n4,end",x\n5,has "quoted" word\n6,"oops\n7,say "hi" now\n8,last\n'
    )
    out = read(p, id_field="id")
    assert [(r.id, r.text) for r in out if isinstance(r, Review)] == [
        ("1", "a"), ("3", "fine"), ("5", 'has "quoted" word'), ("7", 'say "hi" now'), ("8", "last")
    ]
    errors = {e.row: (e.id, e.error) for e in out if isinstance(e, RowError)}
    assert sorted(errors) == [2, 4, 6]
    assert errors[2][0] == "2" and errors[2][1].startswith("malformed CSV at line 3: wrong number of fields")
    assert errors[4][0] == "4" and errors[4][1].startswith("malformed CSV at line 5: wrong number of fields")
    assert errors[6][0] == "6" and errors[6][1].startswith("malformed CSV at line 7: unclosed quote")
    assert [r.row for r in out] == list(range(1, 9))


def test_quoted_newlines_and_delimiters_are_fine_and_lines_stay_physical(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(b'id,text\r\n1,"one,\r\ntwo\r\nthree"\r\n\r\n2,"a ""quote"", then\nmore"\r\n3,x,y\r\n4,ok\r\n')
    out = read(p)
    assert out[:2] == [Review("1", "one,\r\ntwo\r\nthree", 1), Review("2", 'a "quote", then\nmore', 2)]
    assert out[2] == RowError(3, "3", "malformed CSV at line 8: wrong number of fields (expected 2, saw 3)")
    assert out[3] == Review("4", "ok", 4)


def test_short_rows_are_padded_and_stray_quotes_in_one_line_are_kept(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(b'id,text,stars\n1,hello\n2\n3,"ab"cd,2\n4,say "hi",5\n')
    out = read(p, id_field="id")
    assert out[0] == Review("1", "hello", 1) and out[2] == Review("3", "abcd", 3)
    assert out[3] == Review("4", 'say "hi"', 4)
    assert out[1].row == 2 and "empty" in out[1].error


def test_unclosed_quote_swallows_a_bounded_number_of_lines(tmp_path):
    p = tmp_path / "r.csv"
    with p.open("w") as fh:
        fh.write('id,text\n1,"never closed\n')
        fh.writelines(f"{i},review number {i}\n" for i in range(2, 40_002))
    out = read(p)
    assert len(out) == 40_001 and all(r.row == int(r.id) for r in out)
    assert isinstance(out[0], RowError) and "line 2" in out[0].error
    assert all(isinstance(r, Review) for r in out[1:])


def test_utf16_csv_and_single_character_delimiter(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes("id,text\n1,héllo\n".encode("utf-16"))
    assert read(p, encoding="utf-16") == [Review("1", "héllo", 1)]
    with pytest.raises(InputError, match="single character"):
        read(p, encoding="utf-16", delimiter="::")


class _Endless(io.RawIOBase):
    """A CSV of a million rows made on demand, counting the bytes read from it."""

    def __init__(self) -> None:
        self.rows = (f"{i},review {i}\n".encode() for i in range(1_000_000))
        self.buf, self.served = b"id,text\n", 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while len(self.buf) < len(b):
            more = next(self.rows, b"")
            if not more:
                break
            self.buf += more
        n = min(len(b), len(self.buf))
        b[:n], self.buf = self.buf[:n], self.buf[n:]
        self.served += n
        return n


def test_csv_streams_lazily(monkeypatch):
    source = _Endless()
    stdin(monkeypatch, io.BufferedReader(source))
    items = open_reviews(InputSpec(path="-", format="csv"))
    assert [r.text for r in islice(items, 3)] == ["review 0", "review 1", "review 2"]
    assert source.served < 300_000  # a few buffers, not the ~15 MB of the whole input


class _Pipe(io.RawIOBase):
    """A pipe holding what a producer has sent so far: asking for more would wait for the producer."""

    def __init__(self, sent: bytes) -> None:
        self.sent = sent

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if not self.sent:
            raise AssertionError("the reader waits for more input than the rows it could already give")
        n = min(len(b), len(self.sent))
        b[:n], self.sent = self.sent[:n], self.sent[n:]
        return n


def test_piped_rows_come_as_they_arrive(monkeypatch):
    """Rows already in a pipe are read without waiting for the next 64 KB (a slow producer's rows are
    explained as they come); the first 64 KB are sniffed for the format."""
    first = "first review " + "word " * 14_000  # the format sniff takes 64 KB
    stdin(monkeypatch, io.BufferedReader(_Pipe(f"{first}\nsecond review\nthird\n".encode())))
    items = open_reviews(InputSpec(path="-", format="text"))
    assert [r.text for r in islice(items, 3)] == [first, "second review", "third"]


def test_dash_text_means_stdin(monkeypatch):
    stdin(monkeypatch, io.BytesIO(b"one review\nanother\n"))
    assert [r.text for r in open_reviews(InputSpec(texts=("-",)))] == ["one review", "another"]
    stdin(monkeypatch, io.BytesIO(b"id,text\n7,from csv\n"))
    assert [(r.id, r.text) for r in open_reviews(InputSpec(texts=("-",), id_field="id"))] == [("7", "from csv")]
    assert estimate_rows(InputSpec(texts=("-",))) is None
    assert [r.text for r in open_reviews(InputSpec(texts=("-", "x")))] == ["-", "x"]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stdin_is_piped(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdin", None)
    assert stdin_is_piped() is False
    monkeypatch.setattr(sys, "stdin", _Tty())
    assert stdin_is_piped() is False
    monkeypatch.setattr(sys, "stdin", io.StringIO("piped text"))  # no file descriptor, not a terminal
    assert stdin_is_piped() is True
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stdin", closed)
    assert stdin_is_piped() is False
    r, w = os.pipe()
    with open(r, "rb") as pipe, open(w, "wb"):
        monkeypatch.setattr(sys, "stdin", pipe)
        assert stdin_is_piped() is True
    f = tmp_path / "in.txt"
    f.write_text("review\n")
    with f.open() as fh:
        monkeypatch.setattr(sys, "stdin", fh)
        assert stdin_is_piped() is True
    with open(os.devnull) as null:  # a character device like a terminal: nothing piped in
        monkeypatch.setattr(sys, "stdin", null)
        assert stdin_is_piped() is False


@pytest.mark.parametrize("name,content", [("r.jsonl", '{"text": "a"}\n{"text": "b"}\n'),
                                          ("r.csv", "text\na\nb\n"), ("r.txt", "a\nb\n")])
def test_the_input_file_is_closed_after_a_full_read_and_after_an_early_stop(tmp_path, name, content):
    import gc
    import warnings

    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert [r.text for r in open_reviews(InputSpec(path=str(path)))] == ["a", "b"]
        items = open_reviews(InputSpec(path=str(path)))
        assert next(items).text == "a"  # a run that stops here (--fail-fast, Ctrl-C) lets go of the rest
        del items
        gc.collect()
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []


def test_reading_stdin_leaves_stdin_open(monkeypatch):
    raw = io.BytesIO(b"a\nb\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw))
    assert [r.text for r in open_reviews(InputSpec(path="-"))] == ["a", "b"]
    assert not raw.closed


def test_the_first_json_object_decides_whether_the_id_key_holds_the_ids(tmp_path):
    with_ids = tmp_path / "a.jsonl"
    with_ids.write_text('{"id": 7, "text": "one"}\n{"text": "two"}\n{"id": "x", "text": "three"}\n')
    first, missing, third = read(with_ids)
    assert (first.id, third.id) == ("7", "x")
    assert isinstance(missing, RowError) and missing.row == 2 and "'id' is missing" in missing.error
    without = tmp_path / "b.jsonl"
    without.write_text('{"text": "one"}\n{"id": "x", "text": "two"}\n')
    assert [r.id for r in read(without)] == ["1", "2"]  # row numbers for the whole file
    assert [r.id for r in read(with_ids, row_ids=True)] == ["1", "2", "3"]
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("text,id\none,k1\ntwo,k2\n")
    assert [r.id for r in read(csv_file)] == ["k1", "k2"]
    assert [r.id for r in read(csv_file, row_ids=True)] == ["1", "2"]
    with pytest.raises(InputError, match="not both"):
        read(csv_file, row_ids=True, id_field="id")


def test_label_and_rationale_fields_of_csv_and_jsonl_missing_values_are_null(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text('text,stars,why\ngood one,5 stars,"[""good""]"\nbad one,,\n')
    out = read(p, label_field="stars", rationale_field="why")
    assert [(r.label, r.labelled, r.rationale) for r in out] == [("5 stars", True, '["good"]'), (None, True, None)]
    j = tmp_path / "r.jsonl"
    j.write_text('{"text": "a", "stars": 5, "why": ["a"]}\n{"text": "b", "stars": null}\n{"text": "c"}\n'
                 '{"text": "d", "stars": "  "}\n{"text": "e", "stars": true}\n')
    out = read(j, label_field="stars", rationale_field="why")
    assert [r.label for r in out] == ["5", None, None, None, "true"]
    assert [r.rationale for r in out] == ['["a"]', None, None, None, None]
    assert read(j)[0] == Review("1", "a", 1)  # no label field: records stay unlabelled


def test_a_label_field_the_input_does_not_have_is_refused_before_any_work(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("text,stars\ngood,5\n")
    with pytest.raises(InputError, match="column 'star' not found"):
        read(p, label_field="star")
    j = tmp_path / "r.jsonl"
    j.write_text('{"text": "good", "stars": 5}\n')
    with pytest.raises(InputError, match="--rationale-field: key 'why' is in none of the first 1 JSON objects; "
                                         "keys there: stars, text"):
        read(j, rationale_field="why")
    t = tmp_path / "r.txt"
    t.write_text("good\n")
    with pytest.raises(InputError, match="--label-field 'stars' needs CSV, JSONL or Parquet input"):
        read(t, label_field="stars")


def csv_error(path, **kw) -> str:
    with pytest.raises(InputError) as info:
        read(path, **kw)
    return str(info.value)


@pytest.mark.parametrize("given", ["tab", "\\t", "\t"])
def test_delimiter_option_names_tab_three_ways(tmp_path, given):
    p = tmp_path / "r.csv"
    p.write_text("id\ttext\n1\thello, world\n")
    assert read(p, delimiter=given) == [Review("1", "hello, world", 1)]


def test_a_tsv_file_is_split_at_tabs_even_where_commas_would_find_the_column(tmp_path):
    p = tmp_path / "r.tsv"
    p.write_text("text,note\tid\nfine, ok\t1\n")
    assert csv_error(p) == "column 'text' not found; available columns: text,note, id"


def test_the_header_line_is_sniffed_whole_after_its_byte_order_mark(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes("\ufeffreview text;id\nhello there;7\n".encode())
    assert read(p, text_field="review text") == [Review("7", "hello there", 1)]


def test_a_header_byte_invalid_in_the_encoding_does_not_stop_the_delimiter_sniff(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes("caf\xe9;text\n1;x, y\n".encode("latin-1"))
    assert read(p) == [Review("1", "x, y", 1)]


def test_header_problems_are_one_line_errors(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text('"id,text\n1,a\n')
    assert csv_error(p) == ("cannot parse the header (line 1) as CSV: unclosed quote (the quoted field runs to the "
                            "end of the file)")
    p.write_text("review\nsome text\n")
    assert csv_error(p) == ("column 'text' not found; available columns: review (delimiter ','; set --delimiter "
                            "if that is wrong)")
    p.write_text("review,stars\nsome text,5\n")
    assert csv_error(p) == "column 'text' not found; available columns: review, stars"


def test_blank_and_empty_records_and_ids(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("id,text\n1,a\n   \n,\n,b\n2,\n3,c\n")
    assert read(p) == [Review("1", "a", 1), RowError(2, None, "the id field 'id' is empty"),
                       RowError(3, None, "the id field 'id' is empty"), RowError(4, "2", "the review text is empty"),
                       Review("3", "c", 5)]


def test_multi_line_record_problems_name_their_lines_and_the_lines_after_the_first_are_read_again(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text('id,text\n1,"a\nb",extra\n2,"opened\n3,x\n4,end"x\n5,ok\n')
    assert read(p) == [
        RowError(1, "1", "malformed CSV at line 2: wrong number of fields (expected 2, saw 3) in a record over "
                         "lines 2-3; is a quote left open?"),
        Review('b"', "extra", 2),
        RowError(3, "2", "malformed CSV at line 4: unclosed quote (the quoted field opened on this line runs into "
                         "line 6, where a quote is followed by more text)"),
        Review("3", "x", 4), Review("4", 'end"x', 5), Review("5", "ok", 6)]


def test_lines_after_a_broken_record_are_read_again_with_the_file_s_delimiter(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text('id;text\n1;"never\n2;two, with a comma\n3;three\n')
    out = read(p)
    assert out[0].row == 1 and out[0].id == "1" and "malformed CSV at line 2" in out[0].error
    assert out[1:] == [Review("2", "two, with a comma", 2), Review("3", "three", 3)]


def test_a_malformed_record_without_its_id_field_has_no_id(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text('text,id\ngood,1\n"never closed\n')
    assert read(p)[1] == RowError(2, None, "malformed CSV at line 3: unclosed quote (the quoted field runs to the "
                                           "end of the file)")


def test_a_field_over_the_csv_limit_is_a_row_error_saying_so(tmp_path):
    import csv

    p = tmp_path / "r.csv"
    p.write_text("id,text\n1," + "x" * 200 + "\n2,fine\n")
    old = csv.field_size_limit(100)
    try:
        out = read(p)
    finally:
        csv.field_size_limit(old)
    assert out[0] == RowError(1, None, "malformed CSV at line 2: a field is longer than 100 characters (is a "
                                       "quote left open?)")
    assert out[1:] == [Review("2", "fine", 2)]


def test_an_encoding_read_through_a_text_wrapper_keeps_line_ends_inside_quotes(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes('id,text\r\n1,"two\r\nlines"\r\n2,"one\rcarriage"\n'.encode("utf-16"))
    assert read(p, encoding="utf-16") == [Review("1", "two\r\nlines", 1), Review("2", "one\rcarriage", 2)]

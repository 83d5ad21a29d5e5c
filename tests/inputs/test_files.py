"""Many input files: a folder, a glob or a URI; sources, name order, and the errors before any work."""

from __future__ import annotations

import json

import pytest

from saliency_cli.inputs import InputError, InputSpec, estimate_rows, open_reviews
from saliency_cli.inputs.files import is_many, list_inputs
from saliency_cli.records import Review, RowError


def shards(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def items(path, **kw):
    return [(i.source, i.row, i.id, getattr(i, "text", None) or getattr(i, "error", None))
            for i in open_reviews(InputSpec(path=str(path), **kw))]


def test_folder_and_glob_read_every_shard_in_name_order_with_sources(tmp_path):
    folder = shards(tmp_path / "in", {"b.jsonl": [{"id": "x", "text": "second"}],
                                      "a.jsonl": [{"id": "x", "text": "first"}, {"id": "y", "text": "more"}]})
    (folder / "notes.md").write_text("not an input")  # a folder takes its files of a known format only
    (folder / ".hidden.jsonl").write_text('{"text": "hidden"}\n')
    want = [("a.jsonl", 1, "x", "first"), ("a.jsonl", 2, "y", "more"), ("b.jsonl", 1, "x", "second")]
    assert items(folder, id_field="id") == want  # the same id in two files is fine: (source, id) differ
    assert items(f"{folder}/*.jsonl", id_field="id") == want
    assert items(f"{folder}/a.jsonl", id_field="id") == want[:2]  # one file: its name is its source
    assert is_many(str(folder)) and is_many(f"{folder}/*.jsonl") and not is_many(f"{folder}/a.jsonl")
    assert estimate_rows(InputSpec(path=str(folder))) == 3


def test_recursive_glob_names_files_relative_to_its_fixed_part(tmp_path):
    shards(tmp_path / "in" / "2024", {"jan.jsonl": [{"text": "a"}]})
    shards(tmp_path / "in" / "2025", {"feb.jsonl": [{"text": "b"}, {"text": "c"}]})
    got = items(f"{tmp_path}/in/**/*.jsonl")
    assert got == [("2024/jan.jsonl", 1, "1", "a"), ("2025/feb.jsonl", 1, "1", "b"), ("2025/feb.jsonl", 2, "2", "c")]


def test_a_uri_reads_through_pyarrow_filesystems(tmp_path):
    pytest.importorskip("pyarrow")
    folder = shards(tmp_path / "in", {"a.jsonl": [{"text": "one"}], "b.jsonl": [{"text": "two"}]})
    (folder / "notes.md").write_text("neither in the folder's files nor in the glob's\n")
    assert items(f"file://{folder}") == items(folder) == items(f"file://{folder}/*.jsonl")
    assert [f.source for f in list_inputs(f"file://{folder}/b.jsonl")] == ["b.jsonl"]


def test_bad_inputs_fail_before_any_work_in_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("x")
    with pytest.raises(InputError, match=r"no input files in .*empty \(looked for .*\.jsonl"):
        open_reviews(InputSpec(path=str(empty)))
    with pytest.raises(InputError, match="no files match"):
        open_reviews(InputSpec(path=f"{tmp_path}/*.jsonl"))
    mixed = shards(tmp_path / "mixed", {"a.jsonl": [{"text": "a"}], "c.jsonl": [{"text": "c"}]})
    (mixed / "b.csv").write_text("text\nb\n")
    with pytest.raises(InputError) as exc:
        open_reviews(InputSpec(path=str(mixed)))
    assert str(exc.value) == (f"{mixed} holds files of several formats (csv: b.csv, jsonl: a.jsonl and 1 more); "
                              f"pass --format or a glob such as '{mixed}/*.jsonl'")
    assert [s for s, *_ in items(mixed, format="jsonl")] == ["a.jsonl", "c.jsonl"]  # --format picks its files
    (mixed / "d.csv").write_text("review\nno text column\n")
    with pytest.raises(InputError, match="^d.csv: column .text. not found; available columns: review "):
        open_reviews(InputSpec(path=f"{mixed}/*.csv"))  # every header is checked before any work


def test_empty_shards_hold_no_rows_and_a_broken_one_costs_only_its_rows(tmp_path):
    folder = shards(tmp_path / "in", {"a.jsonl": [{"text": "fine"}], "c.jsonl": [{"text": "also fine"}]})
    (folder / "b.jsonl").write_text('{"text": "ok"}\n{not json\n{"text": ""}\n')
    (folder / "empty.jsonl").write_text("")
    got = list(open_reviews(InputSpec(path=str(folder))))
    assert [(i.source, i.row, type(i).__name__) for i in got] == [
        ("a.jsonl", 1, "Review"), ("b.jsonl", 1, "Review"), ("b.jsonl", 2, "RowError"), ("b.jsonl", 3, "RowError"),
        ("c.jsonl", 1, "Review")]
    assert isinstance(got[2], RowError) and got[2].to_dict() == {
        "source": "b.jsonl", "row": 2, "id": None, "error": "malformed JSON: Expecting property name enclosed in "
        "double quotes (line 2, column 2)"}
    for name in ("a.jsonl", "b.jsonl", "c.jsonl"):
        (folder / name).write_text("")
    with pytest.raises(InputError, match="every file of .* is empty"):
        open_reviews(InputSpec(path=str(folder)))


def test_ids_must_be_unique_within_a_file(tmp_path):
    folder = shards(tmp_path / "in", {"a.jsonl": [{"id": 1, "text": "a"}, {"id": 1, "text": "again"}],
                                      "b.jsonl": [{"id": 1, "text": "b"}]})
    got = list(open_reviews(InputSpec(path=str(folder), id_field="id")))
    assert [type(i) for i in got] == [Review, RowError, Review]
    assert got[1].error == "duplicate id '1' (first seen at row 1); ids must be unique within a file"

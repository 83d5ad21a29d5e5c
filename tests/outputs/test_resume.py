"""What an interrupted run left: the reviews it finished, where its whole data ends, the row errors it
logged; each read from bytes written here by hand."""

from __future__ import annotations

import json

from saliency_cli.outputs.resume import logged_errors
from saliency_cli.outputs.writers import ErrorWriter
from saliency_cli.records import RowError


def test_logged_errors_keeps_whole_lines_and_says_where_they_end(tmp_path):
    path = tmp_path / "errors.jsonl"
    assert logged_errors(path) == (set(), None)  # no file yet
    lines = [json.dumps({"row": 2, "id": None, "error": "malformed"}) + "\n",
             "not json\n",  # a line another tool wrote: kept, not a key
             json.dumps({"row": 5, "id": "e", "error": "empty"}) + "\n"]
    path.write_text("".join(lines))
    assert logged_errors(path) == ({(None, 2, None, "malformed"), (None, 5, "e", "empty")}, None)
    path.write_text("".join(lines) + '{"row": 9, "id"')
    assert logged_errors(path) == ({(None, 2, None, "malformed"), (None, 5, "e", "empty")}, len("".join(lines)))
    assert logged_errors(tmp_path) == (set(), None)  # not a regular file: nothing read


def test_error_writer_on_resume_cuts_a_torn_line_and_skips_what_it_holds(tmp_path):
    path = tmp_path / "errors.jsonl"
    first = json.dumps({"row": 2, "id": None, "error": "malformed"}) + "\n"
    path.write_text(first + '{"row": 9, "id"')
    writer = ErrorWriter(str(path), resume=True)
    for err in (RowError(2, None, "malformed"), RowError(2, None, "another reason"), RowError(9, "i", "empty")):
        writer.add(err)
    writer.finish("complete")
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"row": 2, "id": None, "error": "malformed"}, {"row": 2, "id": None, "error": "another reason"},
        {"row": 9, "id": "i", "error": "empty"}]
    writer = ErrorWriter(str(path))  # no --resume: a new file
    writer.add(RowError(2, None, "malformed"))
    writer.finish("complete")
    assert path.read_text() == first

"""Line formats: plain text (one review a line) and JSONL (one object a line), read line by line."""

from __future__ import annotations

import codecs
import json
from dataclasses import replace
from itertools import chain
from typing import IO, Iterable, Iterator

from saliency_cli.inputs.rows import IdTracker, decode, make_review, with_extras
from saliency_cli.inputs.spec import DEFAULT_ID, InputError, InputSpec
from saliency_cli.records import Review, RowError


def _lines(stream: Iterable[bytes], encoding: str, first_row: int) -> Iterator[tuple[int, str | RowError]]:
    """(row, text) of every line that is not blank, the first line's BOM dropped; a line that does not
    decode comes as its row error."""
    for row, raw in enumerate(stream, start=first_row):
        if row == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8) if encoding.startswith("utf-8") else raw
        line = decode(raw.rstrip(b"\r\n"), encoding, row)
        if isinstance(line, RowError) or line.strip():
            yield row, line


def read_text(stream: Iterable[bytes], encoding: str, ids: IdTracker,
              first_row: int = 1) -> Iterator[Review | RowError]:
    """One review per line (blank lines skipped); a line's row is its line number (``first_row``: the
    number of the first line read, for a read that starts inside the file)."""
    for row, line in _lines(stream, encoding, first_row):
        if isinstance(line, RowError):
            yield line
            continue
        yield make_review(line, str(row), row, ids, "text")


def read_jsonl(stream: Iterable[bytes], spec: InputSpec, encoding: str, ids: IdTracker, first_row: int = 1,
               seen: set[str] | None = None) -> Iterator[Review | RowError]:
    """One review per JSON object a line; rows are line numbers, as for text (``first_row``: the number
    of the first line read). The ids: ``--id-field``'s key, else the key ``id`` when the first object
    has one (``--row-ids`` turns that off; a read from inside the file is given the decision by
    ``jsonl_ids``), else the line number. With a label or rationale field, the keys of every object go
    to ``seen``."""
    id_field = spec.id_field
    decided = id_field is not None or spec.row_ids
    extras = spec.label_field is not None or spec.rationale_field is not None
    for row, line in _lines(stream, encoding, first_row):
        if isinstance(line, RowError):
            yield line
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:  # the column within the line, counted from 1
            yield RowError(row, None, f"malformed JSON: {exc.msg} (line {row}, column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            yield RowError(row, None, f"expected a JSON object, got {type(obj).__name__}")
            continue
        if not decided:
            id_field, decided = (DEFAULT_ID if DEFAULT_ID in obj else None), True
        rid = str(row)
        if id_field is not None:
            if obj.get(id_field) is None:
                yield RowError(row, None, f"the id field {id_field!r} is missing or null")
                continue
            rid = str(obj[id_field])
        if spec.text_field not in obj:
            yield RowError(row, rid, f"the text field {spec.text_field!r} is missing; fields here: {', '.join(obj)}")
            continue
        if extras and seen is not None:
            seen.update(obj)
        yield with_extras(make_review(obj[spec.text_field], rid, row, ids, spec.text_field), spec, obj.get)


def check_jsonl_field(items: Iterator[Review | RowError], spec: InputSpec, probe: int = 100,
                      seen: set[str] | None = None) -> Iterator[Review | RowError]:
    """If none of the first ``probe`` JSON objects has the text field, the field name is wrong: fail now.
    Likewise a label or rationale key that none of them has (``seen``, filled by ``read_jsonl``)."""
    wanted = {f for f in (spec.label_field, spec.rationale_field) if f is not None}
    buffered: list[Review | RowError] = []
    for item in items:
        buffered.append(item)
        if (isinstance(item, Review) and wanted <= (seen or set())) or len(buffered) >= probe:
            break
    missing = [b for b in buffered if isinstance(b, RowError) and "is missing; fields here:" in b.error]
    if missing and not any(isinstance(b, Review) for b in buffered):
        fields = missing[0].error.split("fields here:", 1)[1].strip()
        raise InputError(f"field {spec.text_field!r} not found in the JSON objects; available fields: {fields}")
    absent = sorted(wanted - (seen or set()))
    if absent and any(isinstance(b, Review) for b in buffered):
        flag = "--label-field" if absent[0] == spec.label_field else "--rationale-field"
        raise InputError(f"{flag}: key {absent[0]!r} is in none of the first {len(buffered)} JSON objects; "
                         f"keys there: {', '.join(sorted(seen or ()))}")
    return chain(buffered, items)



def jsonl_ids(stream: IO[bytes], spec: InputSpec, encoding: str) -> InputSpec:
    """``spec`` with the file's id decision made (``--id-field`` 'id', or ``--row-ids``) from its first
    JSON object, as a read from its start makes it: a piece read from inside the file ids its rows the
    same way. The stream is read from its start; seek it where the piece begins afterwards."""
    if spec.id_field is not None or spec.row_ids:
        return spec
    stream.seek(0)
    for raw in stream:
        try:
            obj = json.loads(raw.removeprefix(codecs.BOM_UTF8).decode(encoding))
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(obj, dict):
            return replace(spec, id_field=DEFAULT_ID) if DEFAULT_ID in obj else replace(spec, row_ids=True)
    return spec

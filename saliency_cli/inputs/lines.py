"""Line formats: plain text (one review a line) and JSONL (one object a line), read line by line."""

from __future__ import annotations

import codecs
import json
from itertools import chain
from typing import Iterable, Iterator

from saliency_cli.inputs.rows import IdTracker, decode, make_review
from saliency_cli.inputs.spec import InputError, InputSpec
from saliency_cli.records import Review, RowError


def read_text(stream: Iterable[bytes], encoding: str, ids: IdTracker,
              first_row: int = 1) -> Iterator[Review | RowError]:
    """One review per line (blank lines skipped); a line's row is its line number (``first_row``: the
    number of the first line read, for a read that starts inside the file)."""
    for row, raw in enumerate(stream, start=first_row):
        if row == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8) if encoding.startswith("utf-8") else raw
        line = decode(raw.rstrip(b"\r\n"), encoding, row)
        if isinstance(line, RowError):
            yield line
            continue
        if not line.strip():
            continue
        yield make_review(line, str(row), row, ids, "text")


def read_jsonl(stream: Iterable[bytes], spec: InputSpec, encoding: str, ids: IdTracker,
               first_row: int = 1) -> Iterator[Review | RowError]:
    """One review per JSON object a line; rows are line numbers, as for text."""
    for row, raw in enumerate(stream, start=first_row):
        if row == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8) if encoding.startswith("utf-8") else raw
        line = decode(raw, encoding, row)
        if isinstance(line, RowError):
            yield line
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RowError(row, None, f"malformed JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            yield RowError(row, None, f"expected a JSON object, got {type(obj).__name__}")
            continue
        rid = str(row)
        if spec.id_field is not None:
            if obj.get(spec.id_field) is None:
                yield RowError(row, None, f"the id field {spec.id_field!r} is missing or null")
                continue
            rid = str(obj[spec.id_field])
        if spec.text_field not in obj:
            yield RowError(row, rid, f"the text field {spec.text_field!r} is missing; fields here: {', '.join(obj)}")
            continue
        yield make_review(obj[spec.text_field], rid, row, ids, spec.text_field)


def check_jsonl_field(items: Iterator[Review | RowError], spec: InputSpec, probe: int = 100) -> Iterator[Review | RowError]:
    """If none of the first ``probe`` JSON objects has the text field, the field name is wrong: fail now."""
    buffered: list[Review | RowError] = []
    for item in items:
        buffered.append(item)
        if isinstance(item, Review) or len(buffered) >= probe:
            break
    missing = [b for b in buffered if isinstance(b, RowError) and "is missing; fields here:" in b.error]
    if missing and not any(isinstance(b, Review) for b in buffered):
        fields = missing[0].error.split("fields here:", 1)[1].strip()
        raise InputError(f"field {spec.text_field!r} not found in the JSON objects; available fields: {fields}")
    return chain(buffered, items)


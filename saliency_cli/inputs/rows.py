"""One input row to a ``Review`` or a ``RowError`` naming the row: decoding, empty or missing text,
undecodable bytes, duplicate ids. Shared by every format's reader."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from hashlib import blake2b
from typing import Any, Callable

from saliency_cli.inputs.spec import InputError, InputSpec
from saliency_cli.records import Review, RowError

UNDECODABLE = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of bytes the encoding rejects


def decode(raw: bytes, encoding: str, row: int) -> str | RowError:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        return RowError(
            row,
            None,
            f"bytes are not valid {encoding} (byte 0x{bad} at position {exc.start}); "
            "pass --encoding (e.g. latin-1, cp1252, utf-16) if the file uses another encoding",
        )


def _duplicate(rid: str, row: int, first: int) -> RowError:
    return RowError(row, rid, f"duplicate id {rid!r} (first seen at row {first}); ids must be unique within a file")


class IdTracker:
    """Remembers ids already seen (as 8-byte digests, to keep memory small) to flag duplicates; the
    rows found to repeat an id are kept in ``duplicates`` (row -> the row that had it first)."""

    def __init__(self) -> None:
        self._seen: dict[bytes, int] = {}
        self.duplicates: dict[int, int] = {}

    def check(self, rid: str, row: int) -> RowError | None:
        key = blake2b(rid.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        first = self._seen.setdefault(key, row)
        if first != row:
            self.duplicates[row] = first
            return _duplicate(rid, row, first)
        return None


class KnownIds(IdTracker):
    """The duplicates an index of the whole file found, for a read that starts inside the file: the
    same rows get the same errors as in a read from the start."""

    def __init__(self, duplicates: dict[int, int]) -> None:
        super().__init__()
        self.duplicates = dict(duplicates)

    def check(self, rid: str, row: int) -> RowError | None:
        first = self.duplicates.get(row)
        return None if first is None else _duplicate(rid, row, first)


def make_review(text: object, rid: str, row: int, ids: IdTracker, field: str) -> Review | RowError:
    if text is None:
        return RowError(row, rid, f"the text field {field!r} is missing or null")
    if not isinstance(text, str):
        return RowError(row, rid, f"the text field {field!r} holds {type(text).__name__}, not a string")
    if UNDECODABLE.search(text):
        return RowError(row, rid, "the text holds bytes that are not valid in the input encoding; see --encoding")
    if not text.strip():
        return RowError(row, rid, "the review text is empty")
    dup = ids.check(rid, row)
    return dup if dup is not None else Review(id=rid, text=text, row=row)


def _as_text(value: Any) -> str | None:
    """A field's value as text: strings as they are, other JSON values as JSON (5, 4.5, true); None,
    and blank strings, for a missing value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def no_fields(spec: InputSpec, what: str) -> None:
    """A label or rationale field needs an input with fields (CSV, JSONL or Parquet): InputError otherwise."""
    for flag, name in (("--label-field", spec.label_field), ("--rationale-field", spec.rationale_field)):
        if name is not None:
            raise InputError(f"{flag} {name!r} needs CSV, JSONL or Parquet input with that column or key, not {what}")


def with_extras(item: Review | RowError, spec: InputSpec, value_of: Callable[[str], Any]) -> Review | RowError:
    """A review with its ``--label-field`` value (``labelled`` set; None where missing) and its
    ``--rationale-field`` value (JSON text), read by ``value_of(field)``; other items as they are."""
    if not isinstance(item, Review) or (spec.label_field is None and spec.rationale_field is None):
        return item
    label = _as_text(value_of(spec.label_field)) if spec.label_field is not None else None
    rationale = _as_text(value_of(spec.rationale_field)) if spec.rationale_field is not None else None
    return replace(item, label=label, labelled=spec.label_field is not None, rationale=rationale)

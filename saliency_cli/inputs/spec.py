"""What the input is: where reviews come from and how to read them (``InputSpec``), its format, and
the errors that stop a run before any work (``InputError``)."""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("auto", "text", "csv", "tsv", "jsonl", "parquet")


EXTENSIONS = {".txt": "text", ".text": "text", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
              ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}



class InputError(Exception):
    """The input cannot be read at all (a user error: exit code 1)."""



DEFAULT_ID = "id"  # a CSV column or JSONL key of this name holds the ids unless told otherwise


@dataclass(frozen=True)
class InputSpec:
    """Where reviews come from and how to read them."""

    path: str | None = None  # "-": stdin
    texts: tuple[str, ...] = ()  # review texts; a single "-" means stdin, as path "-"
    format: str = "auto"
    text_field: str = "text"
    id_field: str | None = None  # None: the column/key DEFAULT_ID when the input has one, else row numbers
    row_ids: bool = False  # row numbers as ids even when the input has a DEFAULT_ID column
    label_field: str | None = None  # the user's own label, carried to every record
    rationale_field: str | None = None  # the words a person marked (evaluate's plausibility)
    encoding: str = "utf-8"
    delimiter: str | None = None



def check_encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise InputError(f"unknown --encoding {name!r}; try utf-8, utf-8-sig, latin-1 or cp1252") from None



def detect_format(path: str | None, head: bytes, text_field: str) -> str:
    """Format from the file extension, else from content: JSON objects, a header with the field, or text."""
    if path not in (None, "-"):
        ext = Path(path).suffix.lower()
        if ext in EXTENSIONS:
            return EXTENSIONS[ext]
    if head.startswith(b"PAR1"):
        return "parquet"
    first = next((ln for ln in head.splitlines() if ln.strip()), b"").lstrip(codecs.BOM_UTF8).strip()
    if first.startswith(b"{"):
        return "jsonl"
    sep = header_delimiter(first.decode("utf-8", "replace"), text_field)
    if sep is None:
        return "text"
    return "tsv" if sep == "\t" else "csv"



def header_delimiter(header: str, field: str) -> str | None:
    """The delimiter (, ; tab |) under which ``header`` has a column named ``field``, if any."""
    for sep in (",", ";", "\t", "|"):
        if field in next(csv.reader([header], delimiter=sep), []):
            return sep
    return None


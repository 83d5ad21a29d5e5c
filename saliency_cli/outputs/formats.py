"""How records are written: JSONL lines, the long-form CSV (one row per token or word), and which
format a path gets (Parquet's columns: ``parquet.py``). No I/O and no tensors here."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Sequence

from saliency_cli.outputs.paths import OutputError, is_special, is_stdout
from saliency_cli.records import Explanation

OUTPUT_FORMATS = ("jsonl", "csv", "parquet")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",  # what each name gets
              ".parquet": "parquet", ".pq": "parquet"}
LEVELS = ("token", "word")  # CSV rows, and what a report or preview highlights
TOKEN_COLUMNS = ("id", "method", "target", "predicted", "probability", "position", "token", "start", "end", "score", "special")
WORD_COLUMNS = ("id", "method", "target", "predicted", "probability", "position", "word", "start", "end", "score")
LABEL_COLUMN = "label"  # last, in runs with --label-field only (other runs' CSV is unchanged)


def columns(level: str, labelled: bool = False, sourced: bool = False) -> tuple[str, ...]:
    """The CSV columns at ``level``: ``source`` first for an input of several files, the user's label
    last in a labelled run."""
    base = (("source",) if sourced else ()) + (TOKEN_COLUMNS if level == "token" else WORD_COLUMNS)
    return base + (LABEL_COLUMN,) if labelled else base


def check_level(level: str, what: str = "--level") -> None:
    """Raise OutputError unless ``level`` is one of :data:`LEVELS`."""
    if level not in LEVELS:
        raise OutputError(f"unknown {what} {level!r}; choose from {', '.join(LEVELS)}")


def output_format(path: str | None, fmt: str | None) -> str:
    """The explicit format, else the one the extension names (:data:`EXTENSIONS`); stdout and devices
    or FIFOs get JSONL. A file name of any other extension is refused (OutputError): a ``.parquet`` or
    ``.txt`` that quietly held JSONL would mislead whoever opens it."""
    if fmt:
        if fmt not in OUTPUT_FORMATS:
            raise OutputError(f"unknown --output-format {fmt!r}; choose from {', '.join(OUTPUT_FORMATS)}")
        return fmt
    if is_stdout(path) or is_special(path):
        return "jsonl"
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        named = f"extension {suffix!r}" if suffix else "no extension"
        raise OutputError(f"cannot tell which format to write to {path} ({named}): name it "
                          f"{', '.join(f'*{e}' for e in EXTENSIONS)}, or say it with --output-format "
                          f"{'|'.join(OUTPUT_FORMATS)}")
    return EXTENSIONS[suffix]


def jsonl_lines(explanations: Sequence[Explanation]) -> str:
    """One JSON object per line, non-ASCII kept as is."""
    return "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in explanations)


def csv_rows(explanations: Sequence[Explanation], level: str, labelled: bool = False,
             sourced: bool = False) -> list[list[object]]:
    """Long-form rows: one per token (or word) of each explanation (first its ``source`` when the input
    was several files, the label last when ``labelled``)."""
    rows: list[list[object]] = []
    for e in explanations:
        prob = round(float(e.prediction.probs.get(e.prediction.label, 0.0)), 6)
        head = ([e.source] if sourced else []) + [e.id, e.method, e.target.label, e.prediction.label, prob]
        tail = [e.label if e.label is not None else ""] if labelled else []
        if level == "word":
            rows.extend(head + [i, w.word, w.start, w.end, w.score] + tail for i, w in enumerate(e.words))
        else:
            rows.extend(
                head + [i, t.token, t.start, t.end, t.score, int(t.special)] + tail for i, t in enumerate(e.tokens)
            )
    return rows


def csv_text(rows: Sequence[Sequence[object]]) -> str:
    """CSV lines (``\\n`` line ends) of ``rows``."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def csv_header(level: str, labelled: bool = False, sourced: bool = False) -> str:
    """The header line of the long-form CSV at ``level``."""
    return csv_text([columns(level, labelled, sourced)])


def render(explanations: Sequence[Explanation], fmt: str, level: str, labelled: bool = False,
           sourced: bool = False) -> str:
    """All records of one review in ``fmt`` (JSONL lines, or CSV rows without the header)."""
    if fmt == "jsonl":
        return jsonl_lines(explanations)
    return csv_text(csv_rows(explanations, level, labelled, sourced))

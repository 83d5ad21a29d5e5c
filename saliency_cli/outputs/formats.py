"""How records are written: JSONL lines, the long-form CSV (one row per token or word), and which
format a path gets (Parquet's columns: ``parquet.py``). No I/O and no tensors here."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Sequence

from saliency_cli.outputs.paths import OutputError
from saliency_cli.records import Explanation

OUTPUT_FORMATS = ("jsonl", "csv", "parquet")
EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}  # anything else: JSONL
LEVELS = ("token", "word")  # CSV rows, and what a report or preview highlights
TOKEN_COLUMNS = ("id", "method", "target", "predicted", "probability", "position", "token", "start", "end", "score", "special")
WORD_COLUMNS = ("id", "method", "target", "predicted", "probability", "position", "word", "start", "end", "score")


def check_level(level: str, what: str = "--level") -> None:
    """Raise OutputError unless ``level`` is one of :data:`LEVELS`."""
    if level not in LEVELS:
        raise OutputError(f"unknown {what} {level!r}; choose from {', '.join(LEVELS)}")


def output_format(path: str | None, fmt: str | None) -> str:
    """The explicit format, else from the extension (``.csv``: CSV, ``.parquet``: Parquet), else JSONL."""
    if fmt:
        if fmt not in OUTPUT_FORMATS:
            raise OutputError(f"unknown --output-format {fmt!r}; choose from {', '.join(OUTPUT_FORMATS)}")
        return fmt
    if path and path != "-":
        return EXTENSIONS.get(Path(path).suffix.lower(), "jsonl")
    return "jsonl"


def jsonl_lines(explanations: Sequence[Explanation]) -> str:
    """One JSON object per line, non-ASCII kept as is."""
    return "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in explanations)


def csv_rows(explanations: Sequence[Explanation], level: str, sourced: bool = False) -> list[list[object]]:
    """Long-form rows: one per token (or word) of each explanation (first its ``source`` when the
    input was several files)."""
    rows: list[list[object]] = []
    for e in explanations:
        prob = round(float(e.prediction.probs.get(e.prediction.label, 0.0)), 6)
        head = ([e.source] if sourced else []) + [e.id, e.method, e.target.label, e.prediction.label, prob]
        if level == "word":
            rows.extend(head + [i, w.word, w.start, w.end, w.score] for i, w in enumerate(e.words))
        else:
            rows.extend(
                head + [i, t.token, t.start, t.end, t.score, int(t.special)] for i, t in enumerate(e.tokens)
            )
    return rows


def csv_text(rows: Sequence[Sequence[object]]) -> str:
    """CSV lines (``\\n`` line ends) of ``rows``."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def csv_header(level: str, sourced: bool = False) -> str:
    """The header line of the long-form CSV at ``level`` (with a first ``source`` column for an input of
    several files)."""
    return csv_text([(("source",) if sourced else ()) + (TOKEN_COLUMNS if level == "token" else WORD_COLUMNS)])


def render(explanations: Sequence[Explanation], fmt: str, level: str, sourced: bool = False) -> str:
    """All records of one review in ``fmt`` (JSONL lines, or CSV rows without the header)."""
    return jsonl_lines(explanations) if fmt == "jsonl" else csv_text(csv_rows(explanations, level, sourced))

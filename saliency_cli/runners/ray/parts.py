"""``--output-dir DIR`` for ``--engine ray``: each actor writes its block's records to one part file,
the driver keeps only counts and writes ``manifest.json``, for outputs too large for one writer.

A part is named by the first input row of its block (``part-000000000001-<run>.jsonl``) and written
as ``NAME.partial``, then renamed (``outputs.atomic``), so a part that exists is whole; its records are formatted by
the same functions as ``-o`` files (JSONL lines, or CSV rows under the same header). ``--resume``
skips the ids the parts already hold. The manifest lists the parts in input order with their row
ranges and counts; it is written when the run ends (``"complete": false`` if it was interrupted).
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from saliency_cli.outputs.atomic import write_whole
from saliency_cli.outputs.formats import OUTPUT_FORMATS, check_level, csv_header, render
from saliency_cli.outputs.paths import OutputError
from saliency_cli.outputs.resume import Check
from saliency_cli.records import COMPLETE, Explanation, Outcome, Review, RowError

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = 1


@dataclass(frozen=True)
class PartSpec:
    """Where and how actors write their parts."""

    folder: str
    fmt: str = "jsonl"
    level: str = "token"
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    labelled: bool = False  # --label-field: CSV parts get the label column

    def name(self, first_row: int) -> str:
        """Named by the block's first row and the run: a retried block rewrites its own part (the same
        rows, the same bytes), and a resumed run never overwrites the parts of the run it continues."""
        return f"part-{first_row:012d}-{self.run}.{self.fmt}"


def write_part(spec: PartSpec, first_row: int, explanations: Sequence[Explanation]) -> str:
    """Write one block's records to its part (atomically); returns the part's file name."""
    text = render(explanations, spec.fmt, spec.level, spec.labelled)
    if spec.fmt == "csv":
        text = csv_header(spec.level, spec.labelled) + text
    name = spec.name(first_row)
    write_whole(Path(spec.folder) / name, text.encode("utf-8", "surrogateescape"))
    return name


def stored(spec: PartSpec, first_row: int, results: Sequence[Outcome | RowError]) -> list[Outcome | RowError]:
    """Write a block's records to its part and give back its results with ``written`` (part, records)
    in place of the records, so only what counts them goes back to the driver."""
    done = [e for r in results if isinstance(r, Outcome) for e in r.explanations]
    if not done:  # no rows: no records, no part
        return list(results)
    part = write_part(spec, first_row, done)
    return [replace(r, review=Review(r.review.id, "", r.review.row), explanations=(), written=(part, len(r.explanations)))
            if isinstance(r, Outcome) else r for r in results]


@dataclass
class PartInfo:
    """A part as the manifest lists it."""

    file: str
    first_row: int
    last_row: int
    reviews: int = 0
    records: int = 0


@dataclass
class OutputDir:
    """The driver's side of ``--output-dir``: checks the folder, finds what ``--resume`` skips, and
    writes the manifest."""

    spec: PartSpec
    done: set[str] = field(default_factory=set)
    parts: dict[str, PartInfo] = field(default_factory=dict)
    failed: int = 0
    partials: tuple = ()  # the writer protocol of ``writers.Outputs``: nothing waits for --resume here

    def add(self, result: Outcome | RowError) -> None:
        """Count one answered row: the part its records went to (written by the actor), or a failure."""
        if isinstance(result, RowError):
            self.failed += 1
            return
        if result.written is None:
            return
        name, records = result.written
        row = result.review.row
        info = self.parts.setdefault(name, PartInfo(name, row, row))
        info.first_row, info.last_row = min(info.first_row, row), max(info.last_row, row)
        info.reviews += 1
        info.records += records

    def finish(self, ending: str) -> None:
        self.close(ending == COMPLETE)

    @classmethod
    def open(cls, folder: str, fmt: str | None, level: str, resume: bool, check: Check | None = None,
             labelled: bool = False) -> "OutputDir":
        """Create or reuse ``folder``; OutputError if it holds parts and this is not ``--resume``."""
        fmt = fmt or "jsonl"
        if fmt not in OUTPUT_FORMATS:
            raise OutputError(f"unknown --output-format {fmt!r}; choose from {', '.join(OUTPUT_FORMATS)}")
        check_level(level)
        path = Path(folder)
        try:
            path.mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create --output-dir {folder}: {exc.strerror}") from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write --output-dir {folder}: permission denied")
        out = cls(PartSpec(str(path), fmt, level, labelled=labelled))
        existing = sorted(path.glob(f"part-*.{fmt}"))
        if existing and not resume:
            raise OutputError(f"--output-dir {folder} already holds {len(existing)} parts: pass --resume to "
                              "continue that run, or give an empty folder")
        for part in existing:
            out._scan(part, check)
        return out

    def _scan(self, part: Path, check: Check | None) -> None:
        """Record a part left by an earlier run: its ids are skipped; a record of another run is refused."""
        ids: list[str] = []
        records = 0
        with open(part, encoding="utf-8", errors="surrogateescape", newline="") as fh:
            rows = (json.loads(line) for line in fh) if self.spec.fmt == "jsonl" else csv.DictReader(fh)
            for record in rows:
                why = check(record) if check is not None else None
                if why:
                    raise OutputError(f"--resume: {part} holds results of another run: {why}; "
                                      "use a new --output-dir, or an empty one to start over")
                records += 1
                rid = str(record["id"])
                if not ids or ids[-1] != rid:
                    ids.append(rid)
        first = int(part.stem.split("-")[1])
        last = record.get("row") if records and self.spec.fmt == "jsonl" else None
        self.done.update(ids)
        self.parts[part.name] = PartInfo(part.name, first, last if isinstance(last, int) else first, len(ids), records)

    def close(self, complete: bool) -> Path:
        """Write ``manifest.json`` (atomically): the parts in input order and how the run ended."""
        parts = sorted(self.parts.values(), key=lambda p: p.first_row)
        manifest = {
            "schema": MANIFEST_SCHEMA, "complete": complete, "format": self.spec.fmt, "level": self.spec.level,
            "reviews": sum(p.reviews for p in parts), "records": sum(p.records for p in parts),
            "failed_rows": self.failed,
            "parts": [vars(p) for p in parts],
        }
        final = Path(self.spec.folder) / MANIFEST
        write_whole(final, (json.dumps(manifest, indent=1) + "\n").encode("utf-8"))
        return final

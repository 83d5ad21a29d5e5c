"""``--output-dir DIR`` for ``--engine ray``: each actor writes its block's records to one part file,
the driver keeps only counts and writes ``manifest.json``, for outputs too large for one writer.

A part is named by its block: the input file's position and the block's first row
(``part-00000-000000000001-<run>.jsonl``); it is written as ``NAME.partial``, then renamed
(``outputs.atomic``), so a part that exists is whole. Its records are formatted by the same functions
as ``-o`` files (JSONL lines, CSV rows under the same header, or a Parquet file). ``--resume`` skips
the reviews the parts already hold. The manifest lists the parts in input order with their source,
row ranges and counts, and how many actors served the run and how many times they loaded the model;
it is written when the run ends (``"complete": false`` if it was interrupted).
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

from saliency_cli.outputs.atomic import write_whole
from saliency_cli.outputs.formats import OUTPUT_FORMATS, check_level, csv_header, render
from saliency_cli.outputs.paths import OutputError
from saliency_cli.outputs.resume import Check
from saliency_cli.records import COMPLETE, Explanation, Key, Outcome, RowError
from saliency_cli.runners.ray.loads import LoadCount

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = 1


@dataclass(frozen=True)
class PartSpec:
    """Where and how actors write their parts."""

    folder: str
    fmt: str = "jsonl"
    level: str = "token"
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    sourced: bool = False  # CSV parts: a source column (an input of several files)
    labelled: bool = False  # --label-field: CSV parts get the label column

    def name(self, block: str) -> str:
        """Named by the block (file position and first row) and the run: a retried block rewrites its
        own part (the same rows, the same bytes), and a resumed run never overwrites the parts of the
        run it continues."""
        return f"part-{block}-{self.run}.{self.fmt}"

    def keep(self, block: str, results: list[Outcome | RowError]) -> tuple[list[Outcome | RowError], None]:
        """The actor's keep (see ``actor.Explainer``): the block's records to its part."""
        return stored(self, block, results), None


def write_part(spec: PartSpec, block: str, explanations: Sequence[Explanation]) -> str:
    """Write one block's records to its part (atomically); returns the part's file name."""
    if spec.fmt == "parquet":
        from saliency_cli.outputs.parquet import parquet_bytes

        data = parquet_bytes(explanations)
    else:
        text = render(explanations, spec.fmt, spec.level, spec.labelled, spec.sourced)
        if spec.fmt == "csv":
            text = csv_header(spec.level, spec.labelled, spec.sourced) + text
        data = text.encode("utf-8", "surrogateescape")
    name = spec.name(block)
    write_whole(Path(spec.folder) / name, data)
    return name


def stored(spec: PartSpec, block: str, results: Sequence[Outcome | RowError]) -> list[Outcome | RowError]:
    """Write a block's records to its part and give back its results with ``written`` (part, records)
    in place of the records, so only what counts them goes back to the driver."""
    done = [e for r in results if isinstance(r, Outcome) for e in r.explanations]
    if not done:  # no rows: no records, no part
        return list(results)
    part = write_part(spec, block, done)
    return [replace(r, review=replace(r.review, text=""), explanations=(), written=(part, len(r.explanations)))
            if isinstance(r, Outcome) else r for r in results]


@dataclass
class PartInfo:
    """A part as the manifest lists it."""

    file: str
    source: str | None
    first_row: int
    last_row: int
    reviews: int = 0
    records: int = 0

    @property
    def order(self) -> tuple[int, int]:
        """(file position, first row): the part's place in input order, from its name."""
        fields = self.file.split("-")
        return (int(fields[1]), int(fields[2])) if len(fields) > 3 else (0, int(fields[1]))


@dataclass
class OutputDir:
    """The driver's side of ``--output-dir``: checks the folder, finds what ``--resume`` skips, and
    writes the manifest."""

    spec: PartSpec
    done: set[Key] = field(default_factory=set)
    parts: dict[str, PartInfo] = field(default_factory=dict)
    failed: int = 0
    loads: LoadCount | None = None  # told by the runner when the run ends
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
        info = self.parts.setdefault(name, PartInfo(name, result.review.source, row, row))
        info.first_row, info.last_row = min(info.first_row, row), max(info.last_row, row)
        info.reviews += 1
        info.records += records

    def finish(self, ending: str) -> None:
        self.close(ending == COMPLETE)

    def loaded(self, count: LoadCount) -> None:
        """The runner's count of actors and model loads, for the manifest."""
        self.loads = count

    @classmethod
    def open(cls, folder: str, fmt: str | None, level: str, resume: bool, check: Check | None = None,
             sourced: bool = False, labelled: bool = False) -> "OutputDir":
        """Create or reuse ``folder``; OutputError if it holds parts and this is not ``--resume``."""
        fmt = fmt or "jsonl"
        if fmt not in OUTPUT_FORMATS:
            raise OutputError(f"unknown --output-format {fmt!r}; choose from {', '.join(OUTPUT_FORMATS)}")
        if fmt == "parquet":
            from saliency_cli.outputs.parquet import import_pyarrow

            import_pyarrow()
        check_level(level)
        path = Path(folder)
        try:
            path.mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create --output-dir {folder}: {exc.strerror}") from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write --output-dir {folder}: permission denied")
        out = cls(PartSpec(str(path.resolve()), fmt, level, sourced=sourced, labelled=labelled))  # actors elsewhere see the same path
        existing = sorted(path.glob(f"part-*.{fmt}"))
        if existing and not resume:
            raise OutputError(f"--output-dir {folder} already holds {len(existing)} parts: pass --resume to "
                              "continue that run, or give an empty folder")
        for part in existing:
            out._scan(part, check)
        return out

    def _scan(self, part: Path, check: Check | None) -> None:
        """Record a part left by an earlier run: its reviews are skipped; a record of another run is refused."""
        keys: list[Key] = []
        rows: list[int] = []
        records = 0
        for record in _records(part, self.spec.fmt):
            why = check(record) if check is not None else None
            if why:
                raise OutputError(f"--resume: {part} holds results of another run: {why}; "
                                  "use a new --output-dir, or an empty one to start over")
            records += 1
            key = (record.get("source") or None, str(record["id"]))
            if not keys or keys[-1] != key:
                keys.append(key)
            if isinstance(record.get("row"), int):
                rows.append(record["row"])
        info = PartInfo(part.name, keys[0][0] if keys else None, 0, 0, len(keys), records)
        first = info.order[1]
        info.first_row, info.last_row = (min(rows), max(rows)) if rows else (first, first)
        self.done.update(keys)
        self.parts[part.name] = info

    def close(self, complete: bool) -> Path:
        """Write ``manifest.json`` (atomically): the parts in input order and how the run ended."""
        parts = sorted(self.parts.values(), key=lambda p: p.order)
        loads = self.loads or LoadCount()
        manifest = {
            "schema": MANIFEST_SCHEMA, "complete": complete, "format": self.spec.fmt, "level": self.spec.level,
            "reviews": sum(p.reviews for p in parts), "records": sum(p.records for p in parts),
            "failed_rows": self.failed, "actors": loads.actors, "model_loads": loads.model_loads,
            "parts": [vars(p) for p in parts],
        }
        final = Path(self.spec.folder) / MANIFEST
        write_whole(final, (json.dumps(manifest, indent=1) + "\n").encode("utf-8"))
        return final


def _records(part: Path, fmt: str) -> Iterator[dict]:
    """The records of a part file as dicts (JSONL objects, CSV rows, Parquet rows)."""
    if fmt == "parquet":
        from saliency_cli.outputs.parquet import read_records

        yield from read_records(str(part))
        return
    with open(part, encoding="utf-8", errors="surrogateescape", newline="") as fh:
        yield from ((json.loads(line) for line in fh) if fmt == "jsonl" else csv.DictReader(fh))

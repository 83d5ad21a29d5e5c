"""Writing a corpus summary: the JSON, the word-level CSV (one row per group x word) and the page, each
finished atomically; and the summary sink ``explain --summary`` puts beside its writers.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from saliency_cli.evaluation.corpus import CorpusOptions, CorpusTally
from saliency_cli.outputs.atomic import open_text
from saliency_cli.outputs.paths import OutputError, check_writable, is_stdout
from saliency_cli.records import ABORTED, COMPLETE, Outcome, RowError

KINDS = ("json", "csv", "html")
CSV_COLUMNS = ("method", "target", "group_reviews", "word", "reviews", "mean", "ci_low", "ci_high", "top_share",
               "bottom_share")


def kind_of(path: str) -> str:
    """A summary file's kind by extension: ``.csv``, ``.html``/``.htm``, anything else JSON."""
    suffix = Path(path).suffix.lower() if not is_stdout(path) else ""
    return "csv" if suffix == ".csv" else "html" if suffix in (".html", ".htm") else "json"


def check_paths(paths: Mapping[str, str | None]) -> None:
    """Each summary path (by kind) writable, at most one on stdout: OutputError otherwise."""
    given = [p for p in paths.values() if p is not None]
    if sum(is_stdout(p) for p in given) > 1:
        raise OutputError("only one summary output can go to stdout ('-')")
    for kind, path in paths.items():
        if path is not None:
            check_writable(path, f"summary {kind}")


def csv_rows(summary: Mapping[str, Any]) -> list[list[Any]]:
    """One row per group and word, in the summary's order."""
    rows = []
    for g in summary["groups"]:
        for w in g["words"]:
            lo, hi = w["ci"] if w["ci"] is not None else ("", "")
            rows.append([g["method"], g["target"], g["reviews"], w["word"], w["reviews"], w["mean"], lo, hi,
                         w["top_share"], w["bottom_share"]])
    return rows


def write_summary(tally: CorpusTally, paths: Mapping[str, str | None], top: int,
                  run_info: Sequence[tuple[str, Any]] = ()) -> dict[str, Any]:
    """Write the summary to each path given (``json``, ``csv``, ``html``); returns the summary."""
    from saliency_cli.report.corpus_page import render_corpus_page

    summary = tally.summary()
    if paths.get("json") is not None:
        with open_text(paths["json"]) as fh:
            fh.write(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    if paths.get("csv") is not None:
        with open_text(paths["csv"]) as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            writer.writerows(csv_rows(summary))
    if paths.get("html") is not None:
        with open_text(paths["html"]) as fh:
            fh.write(render_corpus_page(tally.summary(with_snippets=True), top, run_info))
    return summary


class SummaryFiles:
    """``explain --summary PATH...``: a corpus tally beside the writers, written when the run ends
    (a stopped run's summary covers the rows finished; an aborted run writes none)."""

    def __init__(self, paths: Sequence[str], options: CorpusOptions = CorpusOptions(snippets=3)) -> None:
        self.paths: dict[str, str] = {}
        for path in paths:
            kind = kind_of(path)
            if kind in self.paths:
                raise OutputError(f"--summary names two {kind} files; give one of each kind at most")
            self.paths[kind] = path
        check_paths(self.paths)
        self.tally = CorpusTally(options if "html" in self.paths else replace(options, snippets=0))
        self.ending: str | None = None
        self.error: str | None = None  # why a summary file could not be written

    def add(self, result: Outcome | RowError) -> None:
        self.tally.add(result)

    def finish(self, ending: str) -> None:
        """Write the summary files, unless the run was aborted; a write error is kept for the command to
        report (the other sinks still finish)."""
        self.ending = ending
        if ending == ABORTED:
            return
        info = [("reviews", self.tally.reviews), ("run", "complete" if ending == COMPLETE else "stopped early")]
        try:
            write_summary(self.tally, self.paths, self.tally.options.top, info)
        except OSError as exc:
            self.error = f"{exc.filename}: {exc.strerror}"

"""One self-contained HTML file with the explanations of many reviews.

Design notes:

* Streaming: :class:`HtmlReport` renders each review to one small string as soon as it is
  added and writes it to an unnamed temporary file, while counters collect what the summary
  needs.  :meth:`HtmlReport.close` writes the head, summary and filters to the output and
  copies the body after them.  Time is linear in the input, memory is bounded by one review,
  and nothing is written to the output when the run fails half-way (:meth:`HtmlReport.discard`).
* Outputs: ``-`` is stdout; an existing device, FIFO or socket is opened and written in place;
  a regular file is written as ``NAME.partial`` and renamed when whole (``outputs.atomic``).
* Safety: every string that comes from the input, the model, the tokenizer, the params or
  ``run_info`` is HTML-escaped (see :mod:`saliency_cli.report.render`).  As defence in depth
  the page carries a Content-Security-Policy that forbids scripts, external resources,
  inline ``style`` attributes and every stylesheet but the page's own (by hash).
* Many reviews: a label filter made of radio buttons and CSS (no JavaScript), and reviews
  after the first ``open_first`` are collapsed ``<details>`` so the page stays responsive
  with 10,000 reviews.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping, Sequence, TextIO

from saliency_cli.outputs.atomic import open_text
from saliency_cli.outputs.formats import check_level
from saliency_cli.outputs.paths import check_writable
from saliency_cli.outputs.saved import STDIN, read_results
from saliency_cli.records import ABORTED, Explanation, Outcome, RowError
from saliency_cli.report import page as html_page
from saliency_cli.report.render import render_review

OPEN_FIRST = 50  # reviews shown expanded before the rest are collapsed


class HtmlReport:
    """An HTML report written review by review: :meth:`add` each review, then :meth:`close`.

    ``out`` is a path (``-`` for stdout) or an open text stream.  A path is checked at once
    (``OutputError`` if it cannot be written) and only written by :meth:`close`;
    :meth:`discard` drops what was added and writes nothing.
    """

    def __init__(
        self,
        out: str | os.PathLike[str] | TextIO,
        *,
        level: str = "word",
        open_first: int = OPEN_FIRST,
        title: str = "Saliency report",
        run_info: Mapping[str, Any] | None = None,
    ) -> None:
        check_level(level, "level")
        if isinstance(out, (str, os.PathLike)):
            check_writable(out, "HTML report")
        self._out = out
        self._level = level
        self._open_first = open_first
        self._title = title
        self._run_info = dict(run_info or {})
        self._stats = html_page.ReportStats()
        self._body: IO[str] | None = tempfile.TemporaryFile("w+", encoding="utf-8", errors="surrogatepass")

    @property
    def reviews(self) -> int:
        """Reviews added so far."""
        return self._stats.reviews

    def _open_body(self) -> IO[str]:
        if self._body is None:
            raise ValueError("the HTML report is already closed")
        return self._body

    def add(self, result: Outcome | RowError) -> None:
        """The sink side: a review that finished, or a row that failed."""
        if isinstance(result, RowError):
            self.add_error(result)
        else:
            self.add_review(result.explanations)

    def finish(self, ending: str) -> None:
        """Write the report of the rows finished (``run_info`` given at construction, and the rows
        explained); an aborted run writes nothing."""
        if ending == ABORTED:
            self.discard()
        else:
            self.close({**self._run_info, "rows explained": self.reviews})

    def add_review(self, explanations: Sequence[Explanation]) -> None:
        """Add one review: its explanations (same id), shown as aligned rows. An empty sequence adds nothing."""
        body = self._open_body()
        group = list(explanations)
        if not group:
            return
        stats = self._stats
        cls = stats.label_class(group[0].prediction.label)
        body.write(render_review(group, stats.reviews, cls, self._level, stats.reviews < self._open_first))
        stats.add(group)

    def add_error(self, error: RowError) -> None:
        """Add a row that failed; failed rows are counted and listed in the summary."""
        self._open_body()
        self._stats.add_error(error)

    def _emit(self, fh: IO[str], body: IO[str], run_info: Mapping[str, Any] | None) -> None:
        stats = self._stats
        fh.write(html_page.head(html_page.stylesheet(stats), f"{self._title} \u2014 {stats.reviews:,} reviews"))
        fh.write(html_page.top(stats, run_info, self._level))
        body.seek(0)
        shutil.copyfileobj(body, fh, 1 << 20)
        fh.write(html_page.tail(stats))

    def close(self, run_info: Mapping[str, Any] | None = None) -> int:
        """Write the report (``run_info`` is listed under the run settings); returns the number of reviews."""
        body = self._open_body()
        self._body = None
        with body:
            if isinstance(self._out, (str, os.PathLike)):
                with open_text(self._out) as fh:
                    self._emit(fh, body, run_info)
            else:
                self._emit(self._out, body, run_info)
        return self._stats.reviews

    def discard(self) -> None:
        """Drop everything added and write nothing (safe to call more than once, or after close)."""
        if self._body is not None:
            self._body.close()
            self._body = None


def _groups(explanations: Iterable[Explanation]) -> Iterator[list[Explanation]]:
    """Consecutive explanations sharing a review (file and id), as lists."""
    for _, group in itertools.groupby(explanations, key=lambda e: (e.source, e.id)):
        yield list(group)


def write_html_report(
    explanations: Iterable[Explanation],
    out: str | Path | TextIO,
    *,
    run_info: Mapping[str, Any] | None = None,
    level: str = "word",
    open_first: int = OPEN_FIRST,
    errors: Sequence[RowError] | None = None,
    title: str = "Saliency report",
) -> int:
    """Write one self-contained HTML report of ``explanations`` to ``out``; returns the number of reviews.

    Consecutive explanations with the same ``id`` form one review (methods/targets shown as
    aligned rows).  ``errors`` (read only after ``explanations`` is exhausted, so a list
    filled by a generator works) are listed in the summary.  A path is written atomically
    (see :class:`HtmlReport` for ``-`` and non-regular files).
    """
    report = HtmlReport(out, level=level, open_first=open_first, title=title)
    try:
        for group in _groups(explanations):
            report.add_review(group)
        for error in errors or ():
            report.add_error(error)
    except BaseException:
        report.discard()
        raise
    return report.close(run_info)


def _explanations(records: Iterable[Explanation | RowError], errors: list[RowError]) -> Iterator[Explanation]:
    """The explanations of ``records``; the row errors go to ``errors``."""
    for record in records:
        if isinstance(record, RowError):
            errors.append(record)
        else:
            yield record


def render_report_from_results(
    results_path: str | Path | Sequence[tuple[str, str]],
    out_path: str | Path,
    level: str = "word",
    *,
    run_info: Mapping[str, Any] | None = None,
    open_first: int = OPEN_FIRST,
) -> int:
    """Render saved results (JSONL, CSV or Parquet as explain writes them; ``-``: stdin; or several
    files as (path, name) pairs, one after another) to an HTML report.

    Returns the number of reviews.
    Reads line by line.  Blank lines are skipped; ``{"row", "id", "error"}`` records are
    listed as failed rows; any other malformed line raises ``ValueError`` naming the file
    and line number, and then no report is written.
    """
    if isinstance(results_path, (str, Path)):
        named = [(STDIN, "<stdin>")] if str(results_path) == STDIN else [(str(results_path), str(results_path))]
    else:
        named = list(results_path)
    errors: list[RowError] = []
    shown = "<stdin>" if named[0][0] == STDIN else Path(named[0][0]).name
    info = {"source": shown if len(named) == 1 else f"{len(named)} files", **(run_info or {})}
    records = itertools.chain.from_iterable(
        read_results(STDIN if path == STDIN else Path(path), where) for path, where in named)
    return write_html_report(
        _explanations(records, errors), out_path, run_info=info, level=level, open_first=open_first, errors=errors
    )

"""What a run shows on stderr while it goes: progress, preview, the one-time truncation warning and
the row-error lines; a sink of the run loop. Data never goes here."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from saliency_cli.cli.console import err
from saliency_cli.records import Outcome, RowError

AUTO_PREVIEW_LIMIT = 20


class RunDisplay:
    """Progress bar, preview, the one-time truncation warning and row-error lines of one run."""

    def __init__(self, *, expected: int | None, quiet: bool, preview: bool | None, top_k: int, max_length: int):
        self.quiet, self.top_k, self.max_length = quiet, top_k, max_length
        self.show_preview = (err.is_terminal and not quiet) if preview is None else preview
        self.preview_cap = None if preview else AUTO_PREVIEW_LIMIT
        self.previewed = 0
        self.warned_truncation = False
        self.progress = None
        if err.is_terminal and not quiet:
            self.progress = make_progress(err, expected)
            self.task = self.progress.add_task("explaining", total=expected)
            self.progress.start()

    def add(self, result: Outcome | RowError) -> None:
        if isinstance(result, RowError):
            self.row_error(result)
        else:
            self.outcome(result)

    def finish(self, ending: str) -> None:
        if self.progress is not None:
            self.progress.stop()

    def row_error(self, row_error: RowError) -> None:
        where = f"row {row_error.row}" + (f" of {row_error.source}" if row_error.source else "") + \
            (f" (id {row_error.id})" if row_error.id not in (None, str(row_error.row)) else "")
        err.print(f"skipped {where}: {row_error.error}", markup=False)

    def outcome(self, outcome: Outcome) -> None:
        if outcome.truncated and not self.warned_truncation:
            self.warned_truncation = True
            where = f"row {outcome.review.row}" + (f" of {outcome.review.source}" if outcome.review.source else "")
            dropped = f" ({outcome.explanations[0].dropped_tokens} tokens dropped)" if outcome.explanations else ""
            err.print(
                f"warning: {where} is longer than the model limit of {self.max_length} tokens "
                f"and was truncated{dropped}; such rows are flagged 'truncated' in the output "
                "(this warning is shown once; --long-text window explains whole reviews)",
                markup=False,
            )
        if self.progress is not None:
            self.progress.advance(self.task)
        if self.show_preview and (self.preview_cap is None or self.previewed < self.preview_cap):
            from saliency_cli.report.preview import render_preview

            self.previewed += 1
            render_preview(err, outcome.explanations, top_k=self.top_k)
            if self.previewed == self.preview_cap:
                err.print(f"(preview shows the first {self.preview_cap} reviews; pass --preview to see all)", markup=False)


class RowsColumn(ProgressColumn):
    """Rows done, and the total when it is known."""

    def render(self, task: Task) -> Text:
        """``12/100 rows`` or ``12 rows``."""
        done = int(task.completed)
        if task.total is None:
            return Text(f"{done:,} rows", style="progress.download")
        return Text(f"{done:,}/{int(task.total):,} rows", style="progress.download")


class RateColumn(ProgressColumn):
    """Throughput in rows per second."""

    def render(self, task: Task) -> Text:
        """``3.2 rows/s`` (``-- rows/s`` until measured)."""
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("-- rows/s", style="progress.data.speed")
        return Text(f"{speed:.3g} rows/s" if speed < 1000 else f"{speed:,.0f} rows/s", style="progress.data.speed")


class EtaColumn(ProgressColumn):
    """Estimated time left, labelled; blank when the total is unknown."""

    max_refresh = 0.5

    def render(self, task: Task) -> Text:
        """``ETA 0:01:23``."""
        if task.total is None:
            return Text("")
        remaining = task.time_remaining
        if remaining is None:
            return Text("ETA -:--:--", style="progress.remaining")
        return Text(f"ETA {timedelta(seconds=int(remaining))}", style="progress.remaining")


def make_progress(console: Console, total: int | None) -> Progress:
    """A progress display for explaining rows: rows done (of total), rows/s, ETA and elapsed time."""
    columns: list[ProgressColumn] = [TextColumn("[progress.description]{task.description}")]
    if total is not None:
        columns.append(BarColumn(bar_width=30))
    columns += [RowsColumn(), RateColumn()]
    if total is not None:
        columns.append(EtaColumn())
    columns.append(TimeElapsedColumn())
    return Progress(*columns, console=console, speed_estimate_period=60.0)

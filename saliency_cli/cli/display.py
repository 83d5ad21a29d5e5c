"""What a run shows on stderr while it goes: progress, preview, the one-time truncation warning and
the row-error lines; a sink of the run loop. Data never goes here."""

from __future__ import annotations

from saliency_cli.cli.console import err
from saliency_cli.cli.progress import LogProgress, TerminalProgress
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
        self.unscored: dict[str, int] = {}  # why faithfulness was not computed -> reviews
        self.rows = 0  # rows done: explained or failed
        self.progress: TerminalProgress | LogProgress | None = None
        if not quiet:
            self.progress = TerminalProgress(err, expected) if err.is_terminal else LogProgress(
                lambda line: err.print(line, markup=False), expected)

    def add(self, result: Outcome | RowError) -> None:
        if isinstance(result, RowError):
            self.row_error(result)
        else:
            self.outcome(result)
        self.rows += 1
        self.within(0.0)

    def within(self, rows: float) -> None:
        """The batch in progress has done ``rows`` rows' worth of its work (a runner tells this)."""
        if self.progress is not None:
            self.progress.update(self.rows, rows)

    def finish(self, ending: str) -> None:
        if self.progress is not None:
            self.progress.stop()
        for why, n in self.unscored.items():
            err.print(f"note: {n:,} review{'s' if n != 1 else ''}: faithfulness {why}; the metrics are null and "
                      "each record gives the reason", markup=False)

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
        reasons = {(e.faithfulness or {}).get("reason") for e in outcome.explanations} - {None}
        for why in reasons:
            self.unscored[why] = self.unscored.get(why, 0) + 1
        if self.show_preview and (self.preview_cap is None or self.previewed < self.preview_cap):
            from saliency_cli.report.preview import render_preview

            self.previewed += 1
            render_preview(err, outcome.explanations, top_k=self.top_k)
            if self.previewed == self.preview_cap:
                err.print(f"(preview shows the first {self.preview_cap} reviews; pass --preview to see all)", markup=False)

"""What a run shows on stderr: errors, warnings, progress, preview and the closing summary.

Data never goes here; stdout (or the output file) carries only results.
"""

from __future__ import annotations

import json
import signal
from typing import Any, Mapping

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from saliency_cli.pipeline import EXIT_USER_ERROR, RunSummary

err = Console(stderr=True, highlight=False, soft_wrap=True)
AUTO_PREVIEW_LIMIT = 20


def fail(message: str, code: int = EXIT_USER_ERROR) -> "typer.Exit":
    """Print one clear line on stderr and return the exit to raise (the message is printed as written:
    brackets such as ``saliency-cli[ray]`` are not taken for markup)."""
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    return typer.Exit(code)


class StopFlag:
    """First Ctrl-C asks for a clean stop after the current batch; a second one aborts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        err.print("\nstopping after the current batch (Ctrl-C again to abort now)...")

    def __enter__(self) -> "StopFlag":
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)


class RunDisplay:
    """Progress bar, preview, the one-time truncation warning and row-error lines of one explain run."""

    def __init__(self, *, expected: int | None, quiet: bool, preview: bool | None, top_k: int, max_length: int):
        self.quiet, self.top_k, self.max_length = quiet, top_k, max_length
        self.show_preview = (err.is_terminal and not quiet) if preview is None else preview
        self.preview_cap = None if preview else AUTO_PREVIEW_LIMIT
        self.previewed = 0
        self.warned_truncation = False
        self.progress = None
        if err.is_terminal and not quiet:
            from saliency_cli.preview import make_progress

            self.progress = make_progress(err, expected)
            self.task = self.progress.add_task("explaining", total=expected)

    def __enter__(self) -> "RunDisplay":
        if self.progress is not None:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def row_error(self, row_error: Any) -> None:
        where = f"row {row_error.row}" + (f" (id {row_error.id})" if row_error.id not in (None, str(row_error.row)) else "")
        err.print(f"skipped {where}: {row_error.error}", markup=False)

    def outcome(self, outcome: Any) -> None:
        if outcome.truncated and not self.warned_truncation:
            self.warned_truncation = True
            dropped = outcome.explanations[0].dropped_tokens if outcome.explanations else 0
            err.print(
                f"warning: row {outcome.review.row} is longer than the model limit of {self.max_length} tokens "
                f"and was truncated ({dropped} tokens dropped); such rows are flagged 'truncated' in the output "
                "(this warning is shown once; --long-text window explains whole reviews)",
                markup=False,
            )
        if self.progress is not None:
            self.progress.advance(self.task)
        if self.show_preview and (self.preview_cap is None or self.previewed < self.preview_cap):
            from saliency_cli.preview import render_preview

            self.previewed += 1
            render_preview(err, outcome.explanations, top_k=self.top_k)
            if self.previewed == self.preview_cap:
                err.print(f"(preview shows the first {self.preview_cap} reviews; pass --preview to see all)", markup=False)


def plural(n: int, word: str) -> str:
    """``1 review``, ``2 reviews``."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def report_summary(summary: RunSummary, partials: Any, quiet: bool) -> None:
    """The closing line(s): how many rows were explained, skipped, truncated, failed; how to resume."""
    if summary.interrupted:
        where = f" in {', '.join(map(str, partials))}" if partials else ""
        err.print(
            f"interrupted: {plural(summary.explained, 'row')} finished and kept{where}. "
            "Rerun the same command with --resume to continue.",
            markup=False,
        )
        return
    if summary.stopped_at is not None:
        err.print(f"stopped at row {summary.stopped_at.row} (--fail-fast); rows before it were written.", markup=False)
    if not quiet or summary.failed:
        parts = [f"{plural(summary.explained, 'row')} explained"]
        if summary.skipped:
            parts.append(f"{summary.skipped} already done (--resume)")
        if summary.truncated:
            parts.append(f"{summary.truncated} truncated")
        if summary.failed:
            parts.append(f"{summary.failed} failed")
        err.print("done: " + ", ".join(parts), markup=False)


def methods_table(methods: Any) -> Table:
    """Every method with its aliases, what it computes, and its parameters with their defaults."""
    table = Table(title="saliency methods", show_lines=True)
    for column in ("method", "aliases", "what it computes", "parameters (default)"):
        table.add_column(column)
    for m in methods:
        params = "\n".join(f"{p.flag} ({p.default}): {p.help}" for p in m.params)
        table.add_row(m.name, ", ".join(m.aliases), m.summary, params or "-")
    return table


def model_table(info: Mapping[str, Any]) -> Table:
    """The embedded default model: labels, base and delta files, bands, held-out metrics."""
    table = Table(title=f"default model: {info['name']}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("labels", ", ".join(info["labels"]))
    base = info["base"]
    status = "verified (sha256)" if base.get("verified") else f"NOT AVAILABLE: {base.get('error')}"
    table.add_row("base encoder", f"{base['package']}=={base['version']} at {base.get('path')}: {status}")
    delta = info["delta"]
    size = f"{delta['size_bytes'] / 1e6:.1f} MB" if delta.get("size_bytes") else "missing"
    table.add_row("fine-tuned layers", f"{delta['path']} ({size}, {delta.get('dtype')})")
    for band in info.get("bands") or []:
        table.add_row(f"band {band.get('label')}", str(band.get("rule", band)))
    for name, value in (info.get("metrics") or {}).items():
        table.add_row(f"held-out {name}", f"{value:.3f}" if isinstance(value, float) else str(value))
    if info.get("splits"):
        table.add_row("splits", json.dumps(info["splits"]))
    return table

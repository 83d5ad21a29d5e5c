"""What a run shows on stderr: errors, warnings, progress, preview and the closing summary.

Data never goes here; stdout (or the output file) carries only results.
"""

from __future__ import annotations

from typing import Any, Mapping

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from saliency_cli.runners.loop import EXIT_USER_ERROR, RunSummary

LOG_WIDTH = 1000  # a log file or pipe has no width: tables at their natural width, paths whole


def console(stderr: bool = False) -> Console:
    """A console on stdout or stderr: the terminal's width, or, where the stream is a file or a pipe
    (CI logs), wide enough that tables keep their natural width instead of wrapping at 80 columns."""
    terminal = Console(stderr=stderr).is_terminal
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=None if terminal else LOG_WIDTH)


err = console(stderr=True)


def fail(message: str, code: int = EXIT_USER_ERROR) -> "typer.Exit":
    """Print one clear line on stderr and return the exit to raise (the message is printed as written:
    brackets such as ``saliency-cli[ray]`` are not taken for markup)."""
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    return typer.Exit(code)


def plural(n: int, word: str) -> str:
    """``1 review``, ``2 reviews``."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def report_summary(summary: RunSummary, partials: Any, quiet: bool, redone: int = 0) -> None:
    """The closing line(s): how many rows were explained, skipped, truncated, failed; how to resume.
    ``redone``: reviews a resumed file held that were explained again (its last batch)."""
    if summary.interrupted:
        where = f" in {', '.join(map(str, partials))}" if partials else ""
        err.print(
            f"interrupted: {plural(summary.explained, 'row')} finished and kept{where}. Rerun the same command "
            "with --resume to continue: it skips the finished rows but redoes the last batch.",
            markup=False,
        )
        return
    if summary.stopped_at is not None:
        err.print(f"stopped at row {summary.stopped_at.row} (--fail-fast); rows before it were written.", markup=False)
    if not quiet or summary.failed:
        again = f" ({redone} of them again: the last batch of the interrupted run)" if redone else ""
        parts = [f"{plural(summary.explained, 'row')} explained{again}"]
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
    splits = info.get("splits") or {}
    sizes = [(name, splits[key]["snippets"]) for key, name in (("train", "train"), ("val", "validation"), ("test", "test"))
             if isinstance(splits.get(key), dict) and "snippets" in splits[key]]
    if sizes:
        seed = f" (seed {splits['seed']})" if "seed" in splits else ""
        table.add_row("splits", ", ".join(f"{name} {n:,}" for name, n in sizes) + f" snippets{seed}")
    if splits.get("method"):
        table.add_row("split method", str(splits["method"]))
    return table

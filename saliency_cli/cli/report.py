"""``saliency-cli report``: render saved results as a self-contained HTML page (no model needed)."""

from __future__ import annotations

import typer

from saliency_cli.cli.console import err, fail, plural


def report(
    results: str = typer.Argument(..., metavar="RESULTS", help="JSONL, CSV or Parquet written by 'saliency-cli "
                                  "explain', a folder of them (or a Ray --output-dir) or a quoted glob; "
                                  "'-' reads stdin."),
    output: str = typer.Option(..., "--output", "-o", metavar="PATH", help="HTML file to write; '-' is stdout."),
    level: str = typer.Option("word", "--level", metavar="word|token", help="Highlight words or tokens."),
) -> None:
    """Render a self-contained HTML report from saved results (no model needed)."""
    from saliency_cli.cli.summarize import sources
    from saliency_cli.outputs.paths import OutputError
    from saliency_cli.report.html import render_report_from_results

    try:
        named = sources([results])
        if not named:
            raise ValueError(f"{results} lists no part files")
        n = render_report_from_results(named[0][0] if len(named) == 1 else named, output, level=level)
    except (ValueError, OutputError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}") from None
    if output != "-":
        err.print(f"HTML report: {output} ({plural(n, 'review')})", markup=False)

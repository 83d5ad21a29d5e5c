"""The ``saliency-cli`` command line: thin Typer commands over plain functions.

Data goes to stdout or the output file; every message goes to stderr.
"""

from __future__ import annotations

import os
import re
import signal
from typing import List, Optional

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from saliency_cli.pipeline import EXIT_INTERRUPTED, EXIT_USER_ERROR, RunSummary, run_explain  # noqa: E402

app = typer.Typer(
    name="saliency-cli",
    help="Explain transformer text classifiers: which tokens drove each prediction.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_USER_ERROR) -> "typer.Exit":
    """Print one clear line on stderr and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def parse_size(text: str | None) -> int | None:
    """``512MB``, ``2GiB``, ``1.5G`` or plain bytes to bytes (decimal and binary units accepted)."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)(i?)b?\s*", text.lower())
    if not m:
        raise ValueError(f"cannot read size {text!r}; use e.g. 512MB or 2GB")
    number, unit, binary = float(m.group(1)), m.group(2), m.group(3)
    base = 1024 if binary else 1000
    return int(number * base ** " kmgt".index(unit or " "))


def _quiet_libraries() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


class _StopFlag:
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

    def __enter__(self) -> "_StopFlag":
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)


@app.command()
def explain(
    texts: Optional[List[str]] = typer.Argument(None, help="Review texts to explain (or use --input)."),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="Input file; '-' reads stdin."),
    format: str = typer.Option("auto", "--format", help="auto|text|csv|tsv|jsonl (auto: extension, then content)."),
    text_field: str = typer.Option("text", "--text-field", help="CSV column / JSONL key holding the review."),
    id_field: Optional[str] = typer.Option(None, "--id-field", help="Column/key with row ids (default: row number)."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Input encoding, e.g. utf-8, latin-1, cp1252, utf-16."),
    delimiter: Optional[str] = typer.Option(None, "--delimiter", help="CSV delimiter (default: sniffed from the header)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Hub id or local folder (default: embedded model)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow the model's own Python code."),
    method: Optional[List[str]] = typer.Option(
        None, "--method", help="gradient|gradient-x-input|integrated-gradients|smooth-grad (or grad|gxi|ig|sg); repeatable."
    ),
    steps: Optional[int] = typer.Option(None, "--steps", help="IG: points on the path [default: 50]."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="IG: pad|zero|mask [default: pad]."),
    ig_rule: Optional[str] = typer.Option(None, "--ig-rule", help="IG quadrature [default: gauss-legendre]."),
    ig_tolerance: Optional[float] = typer.Option(
        None, "--ig-tolerance", help="IG adaptive mode: double a review's steps until |delta| <= tol x |F(x)-F(x')|."
    ),
    ig_max_steps: Optional[int] = typer.Option(None, "--ig-max-steps", help="IG adaptive mode: step limit [default: 800]."),
    samples: Optional[int] = typer.Option(None, "--samples", help="SmoothGrad: noisy samples [default: 20]."),
    noise: Optional[float] = typer.Option(None, "--noise", help="SmoothGrad: noise / embedding range [default: 0.1]."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of randomised methods [default: 0]."),
    target: Optional[List[str]] = typer.Option(
        None, "--target", "-t", help="predicted|all|LABEL|INDEX; repeatable [default: predicted]."
    ),
    attribute: str = typer.Option("probability", "--attribute", help="probability|logit: the output explained."),
    batch_size: int = typer.Option(16, "--batch-size", "-b", help="Reviews per batch (fewer where long reviews would pass 1/8 of --max-memory)."),
    device: str = typer.Option("auto", "--device", help="auto|cpu|cuda|cuda:N|mps."),
    dtype: str = typer.Option(
        "float32", "--dtype", help="float32|bfloat16|float16|auto: precision of the model's matmuls (sums stay float32)."
    ),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Truncate reviews to N tokens (<= model limit)."),
    max_memory: Optional[str] = typer.Option(None, "--max-memory", help="Activation memory per chunk, e.g. 512MB, 4GB."),
    long_text: str = typer.Option(
        "truncate", "--long-text", help="truncate|window: cut reviews at the model limit, or explain overlapping windows."
    ),
    window_overlap: Optional[int] = typer.Option(
        None, "--window-overlap", help="Tokens shared by neighbouring windows [default: a quarter of the window]."
    ),
    output: str = typer.Option("-", "--output", "-o", help="Output file; '-' is stdout."),
    output_format: Optional[str] = typer.Option(None, "--output-format", help="jsonl|csv (default: from extension)."),
    normalize: str = typer.Option("none", "--normalize", help="none|l1|max (none = raw signed scores)."),
    level: str = typer.Option("token", "--level", help="CSV rows per token|word."),
    errors: Optional[str] = typer.Option(None, "--errors", help="Also write row errors as JSONL to this file."),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop at the first row that fails."),
    resume: bool = typer.Option(False, "--resume", help="Skip ids already in --output and append the rest."),
    html: Optional[str] = typer.Option(None, "--html", help="Also write a self-contained HTML report to this file."),
    preview: Optional[bool] = typer.Option(
        None, "--preview/--no-preview", help="Coloured preview on stderr [default: on when stderr is a terminal]."
    ),
    top_k: int = typer.Option(5, "--top-k", help="Words listed per explanation in the preview."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, preview or summary on stderr (errors still shown)."),
) -> None:
    """Explain reviews: per-token (and per-word) attribution for each review, method and target."""
    from saliency_cli.engine import check_targets, make_settings, method_params, resolve_dtype
    from saliency_cli.model import ModelLoadError, load_model
    from saliency_cli.readers import InputError, InputSpec, open_reviews
    from saliency_cli.writers import ErrorWriter, OutputError, ResultWriter, output_format as pick_format

    if texts and input is not None:
        raise fail("give review TEXT arguments or --input, not both")
    try:
        settings = make_settings(
            method or ["integrated-gradients"],
            params=method_params(steps=steps, baseline=baseline, ig_rule=ig_rule, ig_tolerance=ig_tolerance,
                                 ig_max_steps=ig_max_steps, samples=samples, noise=noise, seed=seed),
            targets=target or ["predicted"],
            attribute=attribute,
            normalization=normalize,
            batch_size=batch_size,
            max_memory=parse_size(max_memory),
            long_text=long_text,
            window_overlap=window_overlap,
            dtype=dtype,
        )
        spec = InputSpec(
            path=input, texts=tuple(texts or ()), format=format, text_field=text_field,
            id_field=id_field, encoding=encoding, delimiter=delimiter,
        )
        items = open_reviews(spec)
        fmt = pick_format(output, output_format)
        _quiet_libraries()
        lm = load_model(model, device=device, trust_remote_code=trust_remote_code, max_length=max_length)
        check_targets(lm, settings.targets)
        resolve_dtype(settings.dtype, lm.device)
        writer = ResultWriter(output, fmt, level=level, resume=resume)
        error_writer = ErrorWriter(errors, resume=resume)
    except (ValueError, InputError, OutputError, ModelLoadError) as exc:
        raise fail(str(exc)) from None

    warned_truncation = [False]
    show_preview = (err.is_terminal and not quiet) if preview is None else preview
    preview_cap = None if preview else AUTO_PREVIEW_LIMIT
    previewed = [0]
    spool = _Spool() if html else None
    row_errors: list = []
    progress = None
    if err.is_terminal and not quiet:
        from saliency_cli.preview import make_progress
        from saliency_cli.readers import estimate_rows

        expected = estimate_rows(spec)
        progress = make_progress(err, expected)
        task = progress.add_task("explaining", total=expected)

    def on_error(row_error) -> None:
        if spool is not None:
            row_errors.append(row_error)
        where = f"row {row_error.row}" + (f" (id {row_error.id})" if row_error.id not in (None, str(row_error.row)) else "")
        err.print(f"skipped {where}: {row_error.error}", markup=False)
        error_writer.write(row_error)

    def on_outcome(outcome) -> None:
        if outcome.truncated and not warned_truncation[0]:
            warned_truncation[0] = True
            dropped = outcome.explanations[0].dropped_tokens if outcome.explanations else 0
            err.print(
                f"warning: row {outcome.review.row} is longer than the model limit of {lm.max_length} tokens "
                f"and was truncated ({dropped} tokens dropped); such rows are flagged 'truncated' in the output "
                "(this warning is shown once; --long-text window explains whole reviews)",
                markup=False,
            )
        if spool is not None:
            spool.add(outcome.explanations)
        if progress is not None:
            progress.advance(task)
        if show_preview and (preview_cap is None or previewed[0] < preview_cap):
            from saliency_cli.preview import render_preview

            previewed[0] += 1
            render_preview(err, outcome.explanations, top_k=top_k)
            if previewed[0] == preview_cap:
                err.print(f"(preview shows the first {preview_cap} reviews; pass --preview to see all)", markup=False)

    complete = False
    try:
        with _StopFlag() as stop, (progress if progress is not None else _NoProgress()):
            summary: RunSummary = run_explain(
                lm, items, settings, writer.write, done=writer.done, on_error=on_error,
                on_outcome=on_outcome, should_stop=stop, fail_fast=fail_fast,
            )
        complete = not summary.interrupted
    except KeyboardInterrupt:
        writer.close(complete=False)
        err.print("aborted; finished rows are kept. Rerun the same command with --resume to continue.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        writer.close(complete=complete or writer.path is None)  # a partial file waits for --resume
        error_writer.close()
    if spool is not None:
        from saliency_cli.html_report import write_html_report

        run_info = {"model": lm.name, "device": str(lm.device), "attribute": attribute, "normalization": normalize,
                    "input": input or "arguments", "rows explained": summary.explained}
        try:
            n = write_html_report(spool.read(), html, run_info=run_info, errors=row_errors)
        except OSError as exc:
            raise fail(f"cannot write HTML report {html}: {exc.strerror}") from None
        finally:
            spool.close()
        if not quiet:
            err.print(f"HTML report: {html} ({n} reviews)", markup=False)
    _report(summary, writer, quiet)
    raise typer.Exit(summary.exit_code)


def _report(summary: RunSummary, writer, quiet: bool) -> None:
    if summary.interrupted:
        where = f" in {writer.partial}" if writer.path is not None else ""
        err.print(
            f"interrupted: {summary.explained} rows finished and kept{where}. "
            "Rerun the same command with --resume to continue.",
            markup=False,
        )
        return
    if summary.stopped_at is not None:
        err.print(f"stopped at row {summary.stopped_at.row} (--fail-fast); rows before it were written.", markup=False)
    if not quiet or summary.failed:
        parts = [f"{summary.explained} rows explained"]
        if summary.skipped:
            parts.append(f"{summary.skipped} already done (--resume)")
        if summary.truncated:
            parts.append(f"{summary.truncated} truncated")
        if summary.failed:
            parts.append(f"{summary.failed} failed")
        err.print("done: " + ", ".join(parts), markup=False)


AUTO_PREVIEW_LIMIT = 20
FLAG_OF = {"rule": "ig-rule", "tolerance": "ig-tolerance", "max_steps": "ig-max-steps"}


class _NoProgress:
    """Stands in for a rich Progress when none is shown."""

    def __enter__(self) -> "_NoProgress":
        return self

    def __exit__(self, *exc) -> None:
        return None


class _Spool:
    """Explanations kept in a temporary JSONL file (flat memory) until the HTML report is rendered."""

    def __init__(self) -> None:
        import tempfile

        self._file = tempfile.TemporaryFile("w+", encoding="utf-8", errors="surrogatepass")

    def add(self, explanations) -> None:
        from saliency_cli.writers import jsonl_lines

        self._file.write(jsonl_lines(explanations))

    def read(self):
        import json

        from saliency_cli.records import Explanation

        self._file.seek(0)
        for line in self._file:
            yield Explanation.from_dict(json.loads(line))

    def close(self) -> None:
        self._file.close()


@app.command()
def report(
    results: str = typer.Argument(..., help="JSONL written by 'saliency-cli explain'."),
    output: str = typer.Option(..., "--output", "-o", help="HTML file to write."),
    level: str = typer.Option("word", "--level", help="Highlight word|token."),
) -> None:
    """Render a self-contained HTML report from saved JSONL results (no model needed)."""
    from saliency_cli.html_report import render_report_from_jsonl

    if not os.path.isfile(results):
        raise fail(f"results file not found: {results}")
    try:
        n = render_report_from_jsonl(results, output, level=level)
    except ValueError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}") from None
    err.print(f"HTML report: {output} ({n} reviews)", markup=False)


@app.command()
def methods() -> None:
    """List every saliency method with its aliases and parameters (with defaults)."""
    from saliency_cli.methods import METHODS

    out = Console(highlight=False)
    table = Table(title="saliency methods", show_lines=True)
    table.add_column("method")
    table.add_column("aliases")
    table.add_column("what it computes")
    table.add_column("parameters (default)")
    for m in METHODS.values():
        params = "\n".join(f"--{FLAG_OF.get(p.name, p.name)} ({p.default}): {p.help}" for p in m.params)
        table.add_row(m.name, ", ".join(m.aliases), m.summary, params or "-")
    out.print(table)


@app.command()
def models(
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON on stdout."),
) -> None:
    """Show the embedded default model: labels, where it loads from, and its held-out metrics."""
    import json

    from saliency_cli.default_model import DefaultModelError, default_model_info

    try:
        info = default_model_info()
    except DefaultModelError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    out = Console(highlight=False)
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
    out.print(table)
    out.print("Any other classifier: --model FOLDER_OR_HUB_ID")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

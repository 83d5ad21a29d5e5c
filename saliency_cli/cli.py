"""The ``saliency-cli`` command line: thin Typer commands over plain functions.

Data goes to stdout or the output file; every message goes to stderr.
"""

from __future__ import annotations

import functools
import inspect
import os
import typing
import re
from typing import Any, List, Optional

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402

from saliency_cli.console import (  # noqa: E402
    RunDisplay, StopFlag, err, fail, methods_table, model_table, plural, report_summary,
)
from saliency_cli import cli_options as opt  # noqa: E402
from saliency_cli.methods import METHODS  # noqa: E402
from saliency_cli.pipeline import EXIT_INTERRUPTED, RunSummary, run_explain  # noqa: E402
from saliency_cli.settings import SettingError, flag_of, method_options  # noqa: E402

app = typer.Typer(
    name="saliency-cli",
    help="Explain transformer text classifiers: which tokens drove each prediction.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from saliency_cli import __version__

        typer.echo(f"saliency-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Explain transformer text classifiers: which tokens drove each prediction."""


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


def _method_names() -> str:
    return "|".join(m.name for m in METHODS.values()) + " (or " + "|".join(a for m in METHODS.values() for a in m.aliases) + ")"


def _explain(
    texts: Optional[List[str]] = typer.Argument(None, help="Review texts to explain (or use --input)."),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="Input file; '-' reads stdin."),
    format: str = opt.FORMAT,
    text_field: str = opt.TEXT_FIELD,
    id_field: Optional[str] = opt.ID_FIELD,
    encoding: str = opt.ENCODING,
    delimiter: Optional[str] = opt.DELIMITER,
    model: Optional[str] = opt.MODEL,
    trust_remote_code: bool = opt.TRUST_REMOTE_CODE,
    method: Optional[List[str]] = typer.Option(None, "--method", help=f"{_method_names()}; repeatable."),
    target: Optional[List[str]] = opt.TARGET,
    attribute: str = opt.ATTRIBUTE,
    batch_size: int = typer.Option(16, "--batch-size", "-b", help="Reviews explained together; each batch's rows are written as soon as it finishes."),
    device: str = opt.DEVICE,
    dtype: str = opt.DTYPE,
    max_length: Optional[int] = opt.MAX_LENGTH,
    max_memory: Optional[str] = opt.MAX_MEMORY,
    long_text: str = typer.Option(
        "truncate", "--long-text", help="truncate|window: cut reviews at the model limit, or explain overlapping windows."
    ),
    window_overlap: Optional[int] = typer.Option(
        None, "--window-overlap", help="Tokens shared by neighbouring windows [default: a quarter of the window]."
    ),
    faithfulness: bool = typer.Option(
        False, "--faithfulness", help="Add ERASER comprehensiveness/sufficiency of each explanation (more forward passes)."
    ),
    faithfulness_baseline: Optional[str] = opt.FAITHFULNESS_BASELINE,
    output: Optional[List[str]] = typer.Option(
        None, "--output", "-o", help="Output file, format by extension (.csv, else JSONL); repeatable; '-' is stdout."
    ),
    output_format: Optional[str] = typer.Option(None, "--output-format", help="jsonl|csv for every output (default: by extension)."),
    normalize: str = typer.Option("none", "--normalize", help="none|l1|max (none = raw signed scores)."),
    level: str = typer.Option("token", "--level", help="CSV rows per token|word."),
    errors: Optional[str] = opt.ERRORS,
    fail_fast: bool = opt.FAIL_FAST,
    resume: bool = typer.Option(False, "--resume", help="Skip ids already in --output and append the rest."),
    html: Optional[str] = typer.Option(None, "--html", help="Also write a self-contained HTML report to this file ('-': stdout)."),
    preview: Optional[bool] = typer.Option(
        None, "--preview/--no-preview", help="Coloured preview on stderr [default: on when stderr is a terminal]."
    ),
    top_k: int = typer.Option(5, "--top-k", help="Words listed per explanation in the preview."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, preview or summary on stderr (errors still shown)."),
    engine: str = typer.Option(
        "local", "--engine", help='local|ray: explain in this process, or on a Ray actor pool (pip install "saliency-cli[ray]").'
    ),
    ray_address: Optional[str] = typer.Option(
        None, "--ray-address", help="Ray: 'auto' or HOST:PORT joins a running cluster [default: a private local instance]."
    ),
    workers: Optional[str] = typer.Option(
        None, "--workers", help="Ray: N actors, or MIN:MAX to autoscale [default: CPUs/2 locally, 1:all on a cluster]."
    ),
    cpus_per_worker: Optional[float] = typer.Option(
        None, "--cpus-per-worker", help="Ray: CPUs (and torch threads) per actor [default: local CPUs shared, 1 on a cluster]."
    ),
    gpus_per_worker: Optional[float] = typer.Option(None, "--gpus-per-worker", help="Ray: GPUs per actor, e.g. 1 [default: 0]."),
    output_dir: Optional[str] = typer.Option(
        None, "--output-dir", help="Ray: each actor writes part files here, plus manifest.json (instead of -o)."
    ),
    **method_opts: Any,
) -> None:
    """Explain reviews: per-token (and per-word) attribution for each review, method and target."""
    from saliency_cli.engine import prepare
    from saliency_cli.model import ModelLoadError, load_model, quiet_transformers
    from saliency_cli.outputs import OutputError
    from saliency_cli.readers import InputError, estimate_rows, open_reviews
    from saliency_cli.ray_cluster import RayError
    from saliency_cli.ray_engine import driver_settings, open_outputs, plan_engine
    from saliency_cli.resume import run_check
    from saliency_cli.writers import ErrorWriter

    try:
        run_on = plan_engine(engine, ray_address, workers, cpus_per_worker, gpus_per_worker)
        settings, spec, report = _plan(texts, input, format, text_field, id_field, encoding, delimiter, method,
                                       target, attribute, normalize, batch_size, max_memory, long_text,
                                       window_overlap, dtype, output, errors, html, method_opts, faithfulness,
                                       faithfulness_baseline)
        items = open_reviews(spec)
        quiet_transformers()
        lm = load_model(model, device=device if run_on.ray is None else "cpu", trust_remote_code=trust_remote_code,
                        max_length=max_length)
        ctx = prepare(lm, driver_settings(settings, run_on))
        writer = open_outputs(run_on, output_dir, output, html, output_format, level, resume,
                              run_check(ctx) if resume else None, settings.batch_size)
        error_writer = ErrorWriter(errors, resume=resume)
    except SettingError as exc:
        raise fail(f"{flag_of(exc.option)}: {exc.message}") from None
    except (RayError, ValueError, InputError, OutputError, ModelLoadError) as exc:
        raise fail(str(exc)) from None
    display = RunDisplay(expected=estimate_rows(spec) if err.is_terminal and not quiet else None, quiet=quiet,
                         preview=False if output_dir else preview, top_k=top_k, max_length=lm.max_length)
    if run_on.ray is None:
        summary = _run(functools.partial(run_explain, lm, items, settings), writer, error_writer, report, fail_fast,
                       display)
    else:
        from saliency_cli.ray_engine import ray_runner
        from saliency_cli.ray_worker import ModelSpec

        runner = ray_runner(items, settings, writer, display, ModelSpec(model, device, trust_remote_code, max_length),
                            run_on.ray)
        try:
            summary = _run(runner, writer, error_writer, report, fail_fast, display)
        except (RayError, ValueError) as exc:
            raise fail(str(exc)) from None
    if report is not None:
        run_info = {"model": lm.name, "device": str(lm.device), "attribute": attribute, "normalization": normalize,
                    "input": spec.path or "arguments", "rows explained": summary.explained}
        try:
            n = report.close(run_info)
        except OSError as exc:
            raise fail(f"cannot write HTML report {html}: {exc.strerror}") from None
        if not quiet and html != "-":
            err.print(f"HTML report: {html} ({plural(n, 'review')})", markup=False)
    report_summary(summary, writer.partials, quiet)
    raise typer.Exit(summary.exit_code)


def _plan(texts, input, format, text_field, id_field, encoding, delimiter, method, target, attribute, normalize,
          batch_size, max_memory, long_text, window_overlap, dtype, output, errors, html, method_opts,
          faithfulness=False, faithfulness_baseline=None):
    """Options -> settings, input spec and HTML report, every output path checked; raises user errors."""
    from saliency_cli.html_report import HtmlReport
    from saliency_cli.outputs import OutputError, check_writable, is_stdout
    from saliency_cli.readers import InputSpec, stdin_is_piped
    from saliency_cli.settings import make_settings

    texts = list(texts or ())
    if texts and input is not None:
        raise ValueError("give review TEXT arguments or --input, not both")
    if texts == ["-"] or (not texts and input is None and stdin_is_piped()):
        texts, input = [], "-"
    settings = make_settings(
        method or ["integrated-gradients"], options=method_opts, targets=target or ["predicted"],
        attribute=attribute, normalization=normalize, batch_size=batch_size, max_memory=parse_size(max_memory),
        long_text=long_text, window_overlap=window_overlap, dtype=dtype, faithfulness=faithfulness,
        faithfulness_baseline=faithfulness_baseline,
    )
    outputs = list(output or ["-"])
    if html is not None and is_stdout(html) and any(is_stdout(o) for o in outputs):
        raise OutputError("--html - writes the report to stdout: send the results elsewhere with -o FILE")
    for path in [*outputs, errors]:
        if path is not None:
            check_writable(path)
    spec = InputSpec(path=input, texts=tuple(texts), format=format, text_field=text_field,
                     id_field=id_field, encoding=encoding, delimiter=delimiter)
    return settings, spec, (HtmlReport(html) if html else None)


def _run(runner, writer, error_writer, report, fail_fast: bool, display: RunDisplay) -> RunSummary:
    """Stream a run into the writers; Ctrl-C keeps every finished row for --resume. ``runner`` is
    ``run_explain`` (or the Ray runner) with its model, items and settings bound."""

    def on_error(row_error) -> None:
        display.row_error(row_error)
        error_writer.write(row_error)
        if report is not None:
            report.add_error(row_error)

    def on_outcome(outcome) -> None:
        if report is not None:
            report.add(outcome.explanations)
        display.outcome(outcome)

    complete = False
    try:
        with StopFlag() as stop, display:
            summary = runner(writer.write, done=writer.done, on_error=on_error, on_outcome=on_outcome,
                             should_stop=stop, fail_fast=fail_fast)
        complete = not summary.interrupted
    except KeyboardInterrupt:
        writer.close(complete=False)
        if report is not None:
            report.discard()
        err.print("aborted; finished rows are kept. Rerun the same command with --resume to continue.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        writer.close(complete=complete)  # a partial file waits for --resume
        error_writer.close()
    return summary


METAVARS = {int: "INTEGER", float: "FLOAT", str: "TEXT"}


def _metavars(func):
    """Name option values TEXT / INTEGER / FLOAT in ``--help`` (and repeatable arguments TEXT...)."""
    hints = typing.get_type_hints(getattr(func, "__wrapped__", func))
    for p in inspect.signature(func).parameters.values():
        info = p.default
        if not hasattr(info, "metavar") or info.metavar is not None:
            continue
        annotation = hints.get(p.name, p.annotation)
        kind = annotation if isinstance(annotation, type) else None
        args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
        if kind is None and args:
            kind = args[0]
        if getattr(kind, "__args__", None):  # List[str]
            kind = kind.__args__[0]
        if kind in METAVARS:
            info.metavar = METAVARS[kind]
    return func


def _with_method_options(func):
    """Give ``func`` one CLI option per row of the method-option table (the ``**method_opts``)."""
    fixed = [p for p in inspect.signature(func).parameters.values() if p.kind is not p.VAR_KEYWORD]
    extra = []
    for row in method_options().values():
        defaults = ", ".join(f"{m}: {p.default}" for m, p in row.uses if p.default is not None)
        help_text = row.help + (f" [default: {defaults}]" if defaults else "")
        extra.append(inspect.Parameter(
            row.keyword, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[row.type],
            default=typer.Option(None, row.flag, help=help_text),
        ))
    func.__signature__ = inspect.Signature(fixed + extra)
    return _metavars(func)


explain = app.command("explain")(_with_method_options(_explain))


@app.command()
@_metavars
def report(
    results: str = typer.Argument(..., help="JSONL or CSV written by 'saliency-cli explain'; '-' reads stdin."),
    output: str = typer.Option(..., "--output", "-o", help="HTML file to write; '-' is stdout."),
    level: str = typer.Option("word", "--level", help="Highlight word|token."),
) -> None:
    """Render a self-contained HTML report from saved results (no model needed)."""
    from saliency_cli.html_report import render_report_from_jsonl
    from saliency_cli.outputs import OutputError

    if results != "-" and not os.path.isfile(results):
        raise fail(f"results file not found: {results}")
    try:
        n = render_report_from_jsonl(results, output, level=level)
    except (ValueError, OutputError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}") from None
    if output != "-":
        err.print(f"HTML report: {output} ({plural(n, 'review')})", markup=False)


@app.command()
def methods() -> None:
    """List every saliency method with its aliases and parameters (with defaults)."""
    Console(highlight=False).print(methods_table(METHODS.values()))


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
    out.print(model_table(info))
    out.print("Any other classifier: --model FOLDER_OR_HUB_ID")


from saliency_cli import cli_evaluate  # noqa: E402,F401  (registers the evaluate command)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

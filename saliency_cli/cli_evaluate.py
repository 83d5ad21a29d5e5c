"""``saliency-cli evaluate``: explain a file with several methods plus a random control, score every
explanation's faithfulness, and rank the methods (table on stderr, summary JSON, rows, HTML page)."""

from __future__ import annotations

import functools
import json
from typing import Any, List, Optional

import typer

from saliency_cli import cli_options as opt
from saliency_cli.cli import _plan, _run, _with_method_options, app, parse_size
from saliency_cli.console import RunDisplay, err, fail, plural
from saliency_cli.evaluation import CAVEAT, DEFAULT_METHODS, RESAMPLES, Tally, summarize, with_control
from saliency_cli.pipeline import EXIT_INTERRUPTED, run_explain
from saliency_cli.records import Explanation
from saliency_cli.settings import SettingError, flag_of


class _Collect:
    """The run's writer: every review's rows into the tally, and to the ``-o`` outputs if any."""

    def __init__(self, tally: Tally, outputs: Any | None):
        self.tally, self.outputs = tally, outputs
        self.done: set[str] = outputs.done if outputs is not None else set()

    @property
    def partials(self) -> list:
        return self.outputs.partials if self.outputs is not None else []

    def write(self, explanations: list[Explanation]) -> None:
        self.tally.add(explanations)
        if self.outputs is not None:
            self.outputs.write(explanations)

    def close(self, complete: bool) -> None:
        if self.outputs is not None:
            self.outputs.close(complete)


def _tally_done(tally: Tally, outputs: Any) -> None:
    """With --resume, the reviews already in the rows file count in the summary too."""
    from saliency_cli.evaluation import tally_reviews
    from saliency_cli.results import read_results

    for w in outputs.writers:
        if w.partial is not None and w.done:
            rows = [r for r in read_results(w.partial) if isinstance(r, Explanation)]
            done = tally_reviews(tally.methods, rows)
            tally.merge(done)
            return


def _evaluate(
    input: Optional[str] = typer.Argument(None, metavar="INPUT", help="Reviews: text, CSV, TSV or JSONL file; '-' reads stdin."),
    method: Optional[List[str]] = typer.Option(
        None, "--method", help="Methods to compare; repeatable [default: " + ", ".join(DEFAULT_METHODS) + "]; "
        "the seeded 'random' control is always added."
    ),
    summary_path: Optional[str] = typer.Option(None, "--summary", help="Write the summary JSON here ('-': stdout)."),
    html: Optional[str] = typer.Option(None, "--html", help="Write an HTML page with the table and deletion curves."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write every scored row as JSONL ('-': stdout)."),
    format: str = opt.FORMAT,
    text_field: str = opt.TEXT_FIELD,
    id_field: Optional[str] = opt.ID_FIELD,
    encoding: str = opt.ENCODING,
    delimiter: Optional[str] = opt.DELIMITER,
    model: Optional[str] = opt.MODEL,
    trust_remote_code: bool = opt.TRUST_REMOTE_CODE,
    target: Optional[List[str]] = opt.TARGET,
    attribute: str = opt.ATTRIBUTE,
    batch_size: int = typer.Option(16, "--batch-size", "-b", help="Reviews explained together."),
    device: str = opt.DEVICE,
    dtype: str = opt.DTYPE,
    max_length: Optional[int] = opt.MAX_LENGTH,
    max_memory: Optional[str] = opt.MAX_MEMORY,
    faithfulness_baseline: Optional[str] = opt.FAITHFULNESS_BASELINE,
    resamples: int = typer.Option(RESAMPLES, "--bootstrap", help="Bootstrap resamples for the 95% intervals."),
    errors: Optional[str] = opt.ERRORS,
    fail_fast: bool = opt.FAIL_FAST,
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run: skip the reviews already in -o."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress or tables on stderr (errors still shown)."),
    **method_opts: Any,
) -> None:
    """Rank saliency methods by faithfulness (ERASER comprehensiveness and sufficiency) on your reviews."""
    from saliency_cli.engine import prepare
    from saliency_cli.model import ModelLoadError, load_model, quiet_transformers
    from saliency_cli.outputs import OutputError, check_writable, is_stdout
    from saliency_cli.readers import InputError, estimate_rows, open_reviews
    from saliency_cli.resume import run_check
    from saliency_cli.writers import ErrorWriter, Outputs, output_format

    try:
        if resamples < 1:
            raise ValueError("--bootstrap must be at least 1")
        named = [p for p in (summary_path, html, output) if p is not None]
        if sum(is_stdout(p) for p in named) > 1:
            raise OutputError("only one of --summary, --html and -o can go to stdout ('-')")
        if output is not None and output_format(output, None) != "jsonl":
            raise OutputError("evaluate writes its rows as JSONL (the faithfulness objects do not fit CSV); use -o FILE.jsonl")
        if resume and output is None:
            raise OutputError("--resume needs -o FILE.jsonl (the rows of the interrupted run)")
        for path in (summary_path, html):
            if path is not None:
                check_writable(path)
        settings, spec, _ = _plan(None, input, format, text_field, id_field, encoding, delimiter,
                                  with_control(method or DEFAULT_METHODS), target, attribute, "none", batch_size,
                                  max_memory, "truncate", None, dtype, [output or "-"], errors, None, method_opts,
                                  faithfulness=True, faithfulness_baseline=faithfulness_baseline)
        if spec.path is None:
            raise ValueError("give the reviews to evaluate: a file, or '-' to read stdin")
        items = open_reviews(spec)
        quiet_transformers()
        lm = load_model(model, device=device, trust_remote_code=trust_remote_code, max_length=max_length)
        ctx = prepare(lm, settings)
        tally = Tally([r.method.name for r in settings.methods])
        outputs = None
        if output is not None:
            outputs = Outputs([output], None, "token", resume, check=run_check(ctx) if resume else None,
                              batch_size=settings.batch_size)
            if resume:
                _tally_done(tally, outputs)
        error_writer = ErrorWriter(errors, resume=resume)
    except SettingError as exc:
        raise fail(f"{flag_of(exc.option)}: {exc.message}") from None
    except (ValueError, InputError, OutputError, ModelLoadError) as exc:
        raise fail(str(exc)) from None
    display = RunDisplay(expected=estimate_rows(spec) if err.is_terminal and not quiet else None, quiet=quiet,
                         preview=False, top_k=0, max_length=lm.max_length)
    run = _run(functools.partial(run_explain, lm, items, settings), _Collect(tally, outputs), error_writer, None,
               fail_fast, display)
    summary = summarize(tally, resamples=resamples, seed=0)
    summary.update({"model": lm.name, "attribute": attribute, "targets": list(target or ["predicted"]),
                    "failed": run.failed, "interrupted": run.interrupted})
    _emit(summary, summary_path, html, quiet)
    if run.interrupted:
        err.print(f"interrupted: the summary covers the {plural(tally.reviews, 'review')} finished"
                  + (f"; rerun with --resume to continue ({output})" if output else ""), markup=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    if run.failed and not quiet:
        err.print(f"{plural(run.failed, 'row')} failed and are not in the summary", markup=False)
    raise typer.Exit(run.exit_code)


def _emit(summary: dict, summary_path: str | None, html: str | None, quiet: bool) -> None:
    """The tables on stderr, then the summary JSON and the HTML page where asked."""
    from saliency_cli.evaluation_html import render_page
    from saliency_cli.evaluation_view import metrics_table, wins_table
    from saliency_cli.html_report import open_output

    if not quiet:
        err.print(metrics_table(summary))
        err.print(wins_table(summary))
        err.print(f"note: {CAVEAT}", markup=False)
    try:
        if summary_path is not None:
            with open_output(summary_path) as fh:
                fh.write(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        if html is not None:
            info = {"model": summary["model"], "explained output": summary["attribute"],
                    "targets": ", ".join(summary["targets"]), "replacement": summary["baseline"] or "-",
                    "bins": ", ".join(f"{100 * b:g}%" for b in summary["bins"] or []),
                    "rows failed": summary["failed"]}
            with open_output(html) as fh:
                fh.write(render_page(summary, info))
    except OSError as exc:
        raise fail(f"cannot write {exc.filename}: {exc.strerror}") from None


evaluate = app.command("evaluate")(_with_method_options(_evaluate))

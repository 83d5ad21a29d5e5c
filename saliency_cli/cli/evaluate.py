"""``saliency-cli evaluate``: explain a file with several methods plus a random control, score every
explanation's faithfulness, and rank the methods (table on stderr, summary JSON, rows, HTML page)."""

from __future__ import annotations

import json
from typing import Any

from saliency_cli.cli.console import err, fail, plural
from saliency_cli.cli.display import RunDisplay
from saliency_cli.cli.plan import (
    check_outputs, engine_plan, input_spec, load_and_prepare, rows_left, run_settings, user_errors,
)
from saliency_cli.cli.run import execute, make_runner
from saliency_cli.cli.signature import values_of
from saliency_cli.evaluation.statistics import CAVEAT, Tally, summarize, with_control


def evaluate(**given: Any) -> None:
    """Rank saliency methods by faithfulness (ERASER comprehensiveness and sufficiency) on your reviews."""
    import typer

    from saliency_cli.inputs import estimate_rows, open_reviews
    from saliency_cli.runners.loop import EXIT_INTERRUPTED

    v = values_of("evaluate", given)
    output = v["output"]
    with user_errors():
        engine = engine_plan(v)
        _check_outputs(v)
        spec = input_spec(v)
        settings = run_settings(v, methods=with_control(v["methods"]), faithfulness=True)
        check_outputs([output or "-"], v["errors"], None)
        if spec.path is None:
            raise ValueError("give the reviews to evaluate: a file, or '-' to read stdin")
        items = open_reviews(spec)
        lm, ctx = load_and_prepare(v, settings, engine)
        tally, sinks, done = _sinks(v, lm.name, lm.labels, ctx.settings)
    expected = None if v["quiet"] else rows_left(estimate_rows(spec), done)
    display = RunDisplay(expected=expected, quiet=v["quiet"], preview=False, top_k=0, max_length=lm.max_length)
    # On Ray without -o, the actors tally their blocks and only the tallies come back; they merge in input order
    keep = None
    if engine.ray is not None and output is None:
        from saliency_cli.runners.ray.actor import Tallied

        keep = Tallied(tuple(tally.methods))
    runner = make_runner(engine, ctx, v, settings, keep=keep, on_extra=tally.merge, in_batch=display.within)
    run = execute(runner, items, [*sinks, display], done=done, fail_fast=v["fail_fast"])
    summary = summarize(tally, resamples=v["bootstrap"], seed=0)
    summary.update({"model": lm.name, "dtype": ctx.settings.dtype, "attribute": settings.attribute,
                    "targets": list(settings.targets),
                    "failed": run.failed, "interrupted": run.interrupted})
    _emit(summary, v["summary"], v["html"], v["quiet"])
    _rationale_notes(tally)
    if not v["quiet"]:
        _say_written(v["summary"], v["html"], None if run.interrupted else output)
    if run.interrupted:
        err.print(f"interrupted: the summary covers the {plural(tally.reviews, 'review')} finished"
                  + (f"; rerun with --resume to continue ({output})" if output else ""), markup=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    if run.failed and not v["quiet"]:
        err.print(f"{plural(run.failed, 'row')} failed and are not in the summary", markup=False)
    raise typer.Exit(run.exit_code)


def _say_written(summary: str | None, html: str | None, rows: str | None) -> None:
    """Name the files the run wrote (not stdout)."""
    for what, path in (("summary", summary), ("HTML page", html), ("scored rows", rows)):
        if path is not None and path != "-":
            err.print(f"{what}: {path}", markup=False)


def _rationale_notes(tally: Tally) -> None:
    """Reviews whose rationale names words they lack (or cannot be read), one line each: reported, not fatal."""
    for row, rid, what in tally.notes:
        err.print(f"note: row {row}" + (f" (id {rid})" if rid != str(row) else "") + f": {what}", markup=False)
    if tally.note_count > len(tally.notes):
        err.print(f"note: ... {plural(tally.note_count - len(tally.notes), 'more review')} with such a rationale",
                  markup=False)


def _check_outputs(v: dict[str, Any]) -> None:
    """evaluate's own output rules, before any work: one stdout at most, rows as JSONL, --resume with -o."""
    from saliency_cli.outputs.formats import output_format
    from saliency_cli.outputs.paths import OutputError, check_writable, is_stdout
    from saliency_cli.settings import SettingError

    output = v["output"]
    if v["bootstrap"] < 1:
        raise SettingError("bootstrap", "must be at least 1")
    named = [p for p in (v["summary"], v["html"], output) if p is not None]
    if sum(is_stdout(p) for p in named) > 1:
        raise OutputError("only one of --summary, --html and -o can go to stdout ('-')")
    if output is not None and output_format(output, None) != "jsonl":
        raise OutputError("evaluate writes its rows as JSONL (the faithfulness objects do not fit CSV); use -o FILE.jsonl")
    if v["resume"] and output is None:
        raise OutputError("--resume needs -o FILE.jsonl (the rows of the interrupted run)")
    for path in (v["summary"], v["html"]):
        if path is not None:
            check_writable(path)


def _sinks(v: dict[str, Any], model: str, labels: Any, settings: Any) -> tuple[Tally, list[Any], set[str]]:
    """The tally, the ``-o`` rows (with --resume, the reviews already there are tallied too) and the
    error file; the ids --resume skips."""
    from saliency_cli.outputs.run_check import run_check
    from saliency_cli.outputs.writers import ErrorWriter, Outputs

    tally = Tally([r.method.name for r in settings.methods])
    sinks: list[Any] = [tally]
    done: set = set()
    labelled = v["label_field"] is not None
    if v["output"] is not None:
        rows = Outputs([v["output"]], None, "token", v["resume"],
                       check=run_check(model, labels, settings, labelled) if v["resume"] else None,
                       batch_size=settings.batch_size, labelled=labelled)
        done = rows.done
        if v["resume"]:
            _tally_done(tally, rows)
        sinks.append(rows)
    sinks.append(ErrorWriter(v["errors"], resume=v["resume"]))
    return tally, sinks, done


def _tally_done(tally: Tally, outputs: Any) -> None:
    """With --resume, the reviews already in the rows file count in the summary too."""
    from saliency_cli.evaluation.statistics import tally_reviews
    from saliency_cli.outputs.saved import read_results
    from saliency_cli.records import Explanation

    for w in outputs.writers:
        if w.partial is not None and w.done:
            rows = [r for r in read_results(w.partial) if isinstance(r, Explanation)]
            tally.merge(tally_reviews(tally.methods, rows))
            return


def _emit(summary: dict, summary_path: str | None, html: str | None, quiet: bool) -> None:
    """The tables on stderr, then the summary JSON and the HTML page where asked."""
    from saliency_cli.outputs.atomic import open_text
    from saliency_cli.report.evaluation_page import render_page
    from saliency_cli.report.evaluation_tables import metrics_table, plausibility_table, wins_table

    if not quiet:
        err.print(metrics_table(summary))
        err.print(wins_table(summary))
        plausible = plausibility_table(summary)
        if plausible is not None:
            err.print(plausible)
        err.print(f"note: {CAVEAT}", markup=False)
    try:
        if summary_path is not None:
            with open_text(summary_path) as fh:
                fh.write(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        if html is not None:
            info = {"model": summary["model"], "precision": summary["dtype"], "explained output": summary["attribute"],
                    "targets": ", ".join(summary["targets"]), "replacement": summary["baseline"] or "-",
                    "bins": ", ".join(f"{100 * b:g}%" for b in summary["bins"] or []),
                    "rows failed": summary["failed"]}
            with open_text(html) as fh:
                fh.write(render_page(summary, info))
    except OSError as exc:
        raise fail(f"cannot write {exc.filename}: {exc.strerror}") from None

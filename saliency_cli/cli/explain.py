"""``saliency-cli explain``: per-token (and per-word) attribution for each review, method and target."""

from __future__ import annotations

from typing import Any

from saliency_cli.cli.console import err, fail, plural, report_summary
from saliency_cli.cli.display import RunDisplay
from saliency_cli.cli.plan import (
    check_outputs, engine_plan, files_named, input_spec, load_and_prepare, rows_left, run_settings, user_errors,
)
from saliency_cli.cli.run import execute, make_runner
from saliency_cli.cli.signature import values_of
from saliency_cli.records import ABORTED


def explain(**given: Any) -> None:
    """Explain reviews: per-token (and per-word) attribution for each review, method and target."""
    import typer

    from saliency_cli.inputs import estimate_rows, open_reviews
    from saliency_cli.outputs.run_check import run_check
    from saliency_cli.outputs.writers import ErrorWriter
    from saliency_cli.report.html import HtmlReport

    v = values_of("explain", given)
    with user_errors():
        engine = engine_plan(v)
        spec = input_spec(v)
        for text in files_named(spec.texts):
            err.print(f"note: {text!r} names a file but is explained as review text; to read the file: -i {text}",
                      markup=False, highlight=False)
        settings = run_settings(v)
        outputs = list(v["output"] or ["-"])
        check_outputs(outputs, v["errors"], v["html"], v["output_format"], settings.faithfulness)
        corpus = _summary_sink(v, outputs)
        items = open_reviews(spec)
        lm, ctx = load_and_prepare(v, settings, engine)
        check = run_check(lm.name, lm.labels, ctx.settings, labelled=v["label_field"] is not None,
                          check_dtype=not (engine.ray and engine.ray.gpus_per_worker))
        results = _results_sink(engine, v, outputs, check if v["resume"] else None, settings.batch_size, items.many)
        errors = ErrorWriter(v["errors"], resume=v["resume"])
        if corpus is not None and v["resume"]:
            _tally_done(corpus, results)
    report = None
    if v["html"]:
        report = HtmlReport(v["html"], run_info={
            "model": lm.name, "device": str(lm.device), "attribute": settings.attribute,
            "normalization": settings.normalization, "input": spec.path or "arguments"})
    display = RunDisplay(expected=None if v["quiet"] else rows_left(estimate_rows(spec), results.done),
                         quiet=v["quiet"], preview=False if v["output_dir"] else v["preview"], top_k=v["top_k"],
                         max_length=lm.max_length)
    sinks = [s for s in (results, errors, report, corpus, display) if s is not None]
    runner = make_runner(engine, ctx, v, settings, keep=getattr(results, "spec", None),
                         on_loads=getattr(results, "loaded", None), in_batch=display.within)
    summary = execute(runner, items, sinks, done=results.done, fail_fast=v["fail_fast"])
    if report is not None and not v["quiet"] and v["html"] != "-":
        err.print(f"HTML report: {v['html']} ({plural(report.reviews, 'review')})", markup=False)
    if corpus is not None and corpus.error is not None:
        raise fail(f"cannot write the summary: {corpus.error}")
    if corpus is not None and corpus.ending != ABORTED and not v["quiet"]:
        err.print(f"summary: {', '.join(p if p != '-' else 'stdout' for p in v['summary'])} "
                  f"({plural(corpus.tally.reviews, 'review')})", markup=False)
    report_summary(summary, results.partials, v["quiet"], getattr(results, "redone", 0))
    raise typer.Exit(summary.exit_code)


def _results_sink(engine: Any, v: dict[str, Any], outputs: list[str], check: Any, batch_size: int, many: bool) -> Any:
    """The run's result sink: ``-o`` files (``writers.Outputs``) or, with ``--output-dir``, the manifest
    of the part files the Ray actors write (``parts.OutputDir``); OutputError / ValueError if the
    options clash."""
    from saliency_cli.outputs.writers import Outputs

    labelled = v["label_field"] is not None
    if v["output_dir"] is None:
        return Outputs(outputs, v["output_format"], v["level"], v["resume"], check=check, batch_size=batch_size,
                       labelled=labelled, sourced=many)
    if engine.ray is None:
        raise ValueError("--output-dir needs --engine ray (the local engine writes -o FILE)")
    if v["output"] or v["html"]:
        raise ValueError(f"give {'-o FILE' if v['output'] else '--html'} or --output-dir DIR, not both")
    from saliency_cli.runners.ray.parts import OutputDir

    return OutputDir.open(v["output_dir"], v["output_format"], v["level"], v["resume"], check, sourced=many,
                          labelled=labelled)


def _summary_sink(v: dict[str, Any], outputs: list[str]) -> Any:
    """``--summary PATH...``: the corpus tally beside the writers (None without it), its paths checked."""
    if not v["summary"]:
        return None
    from saliency_cli.outputs.paths import OutputError, is_stdout
    from saliency_cli.report.corpus_files import SummaryFiles

    if v["output_dir"] is not None:
        raise ValueError("--summary needs the records on this machine: use -o FILE with --engine ray, or run "
                         "'saliency-cli summarize DIR' on the --output-dir afterwards")
    if any(is_stdout(p) for p in v["summary"]) and (v["output_dir"] is None and any(map(is_stdout, outputs))
                                                    or is_stdout(v["html"] or "")):
        raise OutputError("--summary - writes the summary to stdout: send the results elsewhere with -o FILE")
    return SummaryFiles(v["summary"])


def _tally_done(sink: Any, results: Any) -> None:
    """With --resume, the reviews the outputs already hold are tallied first, so that the summary covers
    the whole file: read back from a JSONL or word-level CSV output."""
    from saliency_cli.outputs.saved import read_results

    if not results.done:
        return
    readable = [w for w in results.writers if w.partial is not None and (w.fmt == "jsonl" or w.level == "word")]
    if not readable:
        raise ValueError("--summary with --resume reads the finished reviews back from -o: give a JSONL output "
                         "or CSV with --level word")
    sink.tally.feed(read_results(readable[0].partial))  # it holds exactly the reviews --resume skips


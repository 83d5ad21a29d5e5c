"""``saliency-cli explain``: per-token (and per-word) attribution for each review, method and target."""

from __future__ import annotations

from typing import Any

from saliency_cli.cli.console import err, fail, plural, report_summary
from saliency_cli.cli.display import RunDisplay
from saliency_cli.cli.plan import check_outputs, input_spec, model_spec, run_settings
from saliency_cli.cli.run import execute, make_runner
from saliency_cli.cli.signature import values_of


def explain(**given: Any) -> None:
    """Explain reviews: per-token (and per-word) attribution for each review, method and target."""
    import typer

    from saliency_cli.engine import prepare
    from saliency_cli.inputs import InputError, estimate_rows, open_reviews
    from saliency_cli.model import ModelLoadError, quiet_transformers
    from saliency_cli.outputs.paths import OutputError
    from saliency_cli.outputs.run_check import run_check
    from saliency_cli.outputs.writers import ErrorWriter
    from saliency_cli.report.html import HtmlReport
    from saliency_cli.runners.engines import driver_settings, plan_engine
    from saliency_cli.runners.ray.cluster import RayError
    from saliency_cli.settings import SettingError, flag_of

    v = values_of("explain", given)
    try:
        engine = plan_engine(v["engine"], v["ray_address"], v["workers"], v["cpus_per_worker"], v["gpus_per_worker"])
        spec = input_spec(v)
        settings = run_settings(v)
        outputs = list(v["output"] or ["-"])
        check_outputs(outputs, v["errors"], v["html"])
        items = open_reviews(spec)
        quiet_transformers()
        lm = model_spec(v, device=None if engine.ray is None else "cpu").load()
        ctx = prepare(lm, driver_settings(settings, engine))
        check = run_check(lm.name, lm.labels, ctx.settings) if v["resume"] else None
        results = _results_sink(engine, v, outputs, check, settings.batch_size, items.many)
        errors = ErrorWriter(v["errors"], resume=v["resume"])
    except SettingError as exc:
        raise fail(f"{flag_of(exc.option)}: {exc.message}") from None
    except (RayError, ValueError, InputError, OutputError, ModelLoadError) as exc:
        raise fail(str(exc)) from None
    report = None
    if v["html"]:
        report = HtmlReport(v["html"], run_info={
            "model": lm.name, "device": str(lm.device), "attribute": settings.attribute,
            "normalization": settings.normalization, "input": spec.path or "arguments"})
    display = RunDisplay(expected=estimate_rows(spec) if err.is_terminal and not v["quiet"] else None,
                         quiet=v["quiet"], preview=False if v["output_dir"] else v["preview"], top_k=v["top_k"],
                         max_length=lm.max_length)
    sinks = [s for s in (results, errors, report, display) if s is not None]
    runner = make_runner(engine, ctx, v, settings, keep=getattr(results, "spec", None),
                         on_loads=getattr(results, "loaded", None))
    summary = execute(runner, items, sinks, done=results.done, fail_fast=v["fail_fast"])
    if report is not None and not v["quiet"] and v["html"] != "-":
        err.print(f"HTML report: {v['html']} ({plural(report.reviews, 'review')})", markup=False)
    report_summary(summary, results.partials, v["quiet"])
    raise typer.Exit(summary.exit_code)


def _results_sink(engine: Any, v: dict[str, Any], outputs: list[str], check: Any, batch_size: int, many: bool) -> Any:
    """The run's result sink: ``-o`` files (``writers.Outputs``) or, with ``--output-dir``, the manifest
    of the part files the Ray actors write (``parts.OutputDir``); OutputError / ValueError if the
    options clash."""
    from saliency_cli.outputs.writers import Outputs

    if v["output_dir"] is None:
        return Outputs(outputs, v["output_format"], v["level"], v["resume"], check=check, batch_size=batch_size,
                       sourced=many)
    if engine.ray is None:
        raise ValueError("--output-dir needs --engine ray (the local engine writes -o FILE)")
    if v["output"] or v["html"]:
        raise ValueError(f"give {'-o FILE' if v['output'] else '--html'} or --output-dir DIR, not both")
    from saliency_cli.runners.ray.parts import OutputDir

    return OutputDir.open(v["output_dir"], v["output_format"], v["level"], v["resume"], check, sourced=many)

"""Running a command's runner into its sinks from the CLI: Ctrl-C as the user expects (a first one
stops after the batch, a second one aborts), and the user errors that can still happen mid-run."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import typer

from saliency_cli.cli.console import err, fail, plural
from saliency_cli.records import Review, RowError, Sink
from saliency_cli.runners import Runner
from saliency_cli.runners.loop import EXIT_INTERRUPTED, RunSummary, StopFlag, run
from saliency_cli.runners.ray.cluster import RayError


def execute(runner: Runner, items: Iterable[Review | RowError], sinks: Sequence[Sink], *, done: set[str],
            fail_fast: bool) -> RunSummary:
    """``loop.run`` under a Ctrl-C handler: exit 130 on a second Ctrl-C (finished rows are kept), exit 1
    on a failure of the runner itself (Ray cannot place its actors, ...)."""
    def first() -> None:
        err.print("\nstopping after the current batch (Ctrl-C again to abort now)...")

    try:
        with StopFlag(first) as stop:
            return run(runner, items, sinks, done=done, fail_fast=fail_fast, should_stop=stop)
    except KeyboardInterrupt:
        err.print("aborted; finished rows are kept. Rerun the same command with --resume to continue.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (RayError, ValueError) as exc:
        raise fail(str(exc)) from None


def make_runner(engine: Any, ctx: Any, v: dict[str, Any], settings: Any, keep: Any = None,
                on_extra: Callable[[Any], None] | None = None, on_loads: Callable[[Any], None] | None = None,
                in_batch: Callable[[float], None] | None = None) -> Runner:
    """The local runner, or the Ray runner with the run's own settings (the driver checked them) and
    what its actors keep of the records (see ``RayRunner``); Ray's sizing and model loads on stderr.
    ``in_batch``: the local runner's progress within a batch (see ``LocalRunner``)."""
    if engine.ray is None:
        from saliency_cli.runners.local import LocalRunner

        return LocalRunner(ctx, in_batch=in_batch)
    from saliency_cli.cli.plan import model_spec
    from saliency_cli.runners.ray.driver import RayRunner

    quiet = v["quiet"]

    def on_ready(sizing: Any) -> None:
        if quiet:
            return
        where = engine.ray.address or "a private local instance"
        workers = (f"{sizing.max_workers}" if sizing.min_workers == sizing.max_workers
                   else f"{sizing.min_workers}-{sizing.max_workers}")
        gpus = f", {sizing.gpus_per_worker:g} GPU" if sizing.gpus_per_worker else ""
        noun = "worker" if sizing.max_workers == 1 else "workers"
        err.print(f"ray: {workers} {noun} on {where} ({sizing.cpus_per_worker:g} CPU{gpus}, "
                  f"{plural(sizing.torch_threads, 'torch thread')} each)", markup=False)

    def loaded(count: Any) -> None:
        if on_loads is not None:
            on_loads(count)
        if not quiet and count.model_loads:
            err.print(f"ray: {plural(count.actors, 'actor')} loaded the model {plural(count.model_loads, 'time')}",
                      markup=False)

    return RayRunner(model_spec(v), settings, engine.ray, keep=keep, on_ready=on_ready,
                     on_extra=on_extra or (lambda extra: None), on_loads=loaded)

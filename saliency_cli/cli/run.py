"""Running a command's runner into its sinks from the CLI: Ctrl-C as the user expects (a first one
stops after the batch, a second one aborts), and the user errors that can still happen mid-run."""

from __future__ import annotations

from typing import Iterable, Sequence

import typer

from saliency_cli.cli.console import err, fail
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

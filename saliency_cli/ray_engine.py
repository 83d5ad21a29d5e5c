"""The Ray runner (``explain --engine ray``): the same rows as the local runner, explained by a Ray
Data actor pool.

The driver reads the input with the usual readers, skips ``--resume``'d ids and cuts batches
aligned to input rows exactly as ``pipeline.explain_stream`` does. It hands Ray bounded windows of
batches (``RayOptions.window`` per worker; one pandas block per batch, or per ``part_rows`` input
rows with ``--output-dir``), so its memory does not grow
with the input; each window runs ``map_batches(Explainer, compute=ActorPoolStrategy(...))`` with
order preserved, and every answered block is written at once through the same writers as a local
run. Only "which process calls ``explain_batch`` on which batch" differs from the local runner.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from saliency_cli.engine import Outcome
from saliency_cli.pipeline import RunSummary, _block, _skip_done, consume
from saliency_cli.ray_cluster import RayError, RayOptions, Sizing, import_ray, parse_workers, ray_session
from saliency_cli.ray_worker import Explainer, ModelSpec, results_of, to_frame
from saliency_cli.records import Explanation, Review, RowError
from saliency_cli.settings import Settings

ENGINES = ("local", "ray")
Batch = tuple[int, list[Review | RowError]]


@dataclass(frozen=True)
class Engine:
    """The ``--engine`` choice and, for Ray, its options."""

    name: str = "local"
    ray: RayOptions | None = None


def plan_engine(engine: str, address: str | None, workers: str | None, cpus_per_worker: float | None,
                gpus_per_worker: float | None) -> Engine:
    """The ``--engine`` options checked together (ValueError naming the flag) before any work."""
    if engine not in ENGINES:
        raise ValueError(f"unknown --engine {engine!r}; choose from {', '.join(ENGINES)}")
    given = {"--ray-address": address, "--workers": workers, "--cpus-per-worker": cpus_per_worker,
             "--gpus-per-worker": gpus_per_worker}
    if engine == "local":
        extra = [flag for flag, value in given.items() if value is not None]
        if extra:
            raise ValueError(f"{extra[0]} needs --engine ray")
        return Engine()
    if cpus_per_worker is not None and cpus_per_worker <= 0:
        raise ValueError("--cpus-per-worker must be > 0")
    if gpus_per_worker is not None and gpus_per_worker < 0:
        raise ValueError("--gpus-per-worker must be >= 0")
    import_ray()  # a missing extra fails now, before the model is loaded
    options = RayOptions(address=address or None, workers=parse_workers(workers), cpus_per_worker=cpus_per_worker,
                         gpus_per_worker=gpus_per_worker or 0.0)
    return Engine("ray", options)


def open_outputs(engine: Engine, output_dir: str | None, output: list[str] | None, html: str | None,
                 fmt: str | None, level: str, resume: bool, check: Any, batch_size: int) -> Any:
    """The writer of the run: ``-o`` files (``writers.Outputs``) or, with ``--output-dir``, a folder
    of part files written by the actors (``ray_parts.OutputDir``); OutputError / ValueError if the
    options clash."""
    from saliency_cli.writers import Outputs

    if output_dir is None:
        return Outputs(output or ["-"], fmt, level, resume, check=check, batch_size=batch_size)
    if engine.ray is None:
        raise ValueError("--output-dir needs --engine ray (the local engine writes -o FILE)")
    if output or html:
        raise ValueError(f"give {'-o FILE' if output else '--html'} or --output-dir DIR, not both")
    from saliency_cli.ray_parts import OutputDir

    return OutputDir.open(output_dir, fmt, level, resume, check)


def driver_settings(settings: Settings, engine: Engine) -> Settings:
    """The settings the driver checks (targets, labels, ``--resume``) on its CPU copy of the model:
    the run's own, except that a dtype meant for GPU workers is not checked against the driver's CPU."""
    if engine.ray is not None and engine.ray.gpus_per_worker:
        return replace(settings, dtype="float32")
    return settings


def row_batches(items: Iterable[Review | RowError], size: int) -> Iterator[Batch]:
    """Numbered batches of input items, cut where the local runner cuts them (see ``pipeline._block``)."""
    number = 0
    pending: list[Review | RowError] = []
    for item in items:
        if pending and _block(item, size) != _block(pending[-1], size):
            yield number, pending
            number, pending = number + 1, []
        pending.append(item)
        if len(pending) >= size or item.row % size == 0:
            yield number, pending
            number, pending = number + 1, []
    if pending:
        yield number, pending


def explain_on_ray(ray: Any, sizing: Sizing, model: ModelSpec, settings: Settings, items: Iterable[Review | RowError],
                   options: RayOptions, should_stop: Callable[[], bool] = lambda: False,
                   complete: list[bool] | None = None, parts: Any = None,
                   on_block: Callable[[Any], None] = lambda frame: None) -> Iterator[Outcome | RowError]:
    """One Outcome or RowError per input item, in input order, computed by the actor pool window by
    window. A stop request ends the run after the block being yielded (``complete[0]`` stays False);
    Ray's failures become RayError."""
    from ray.data import ActorPoolStrategy

    if sizing.min_workers == sizing.max_workers:
        pool = ActorPoolStrategy(size=sizing.max_workers)
    else:
        pool = ActorPoolStrategy(min_size=sizing.min_workers, max_size=sizing.max_workers)
    batches = row_batches(items, settings.batch_size)
    per_block = 1 if parts is None else max(1, options.part_rows // settings.batch_size)  # batches per block
    per_window = max(1, options.window, 2 * per_block) * sizing.max_workers
    while True:
        window = list(islice(batches, per_window))
        if not window:
            if complete is not None:
                complete[0] = True
            return
        if should_stop():
            return
        rows = per_block * settings.batch_size  # the most input rows a block can hold
        blocks = [to_frame(window[i:i + per_block], rows) for i in range(0, len(window), per_block)]
        dataset = ray.data.from_pandas(blocks).map_batches(
            Explainer,
            fn_constructor_kwargs=dict(model=model, settings=settings, torch_threads=sizing.torch_threads, parts=parts),
            batch_size=rows,  # every block has this many rows: one Ray batch = one block (see to_frame)
            batch_format="pandas",
            compute=pool,
            num_cpus=sizing.cpus_per_worker,
            num_gpus=sizing.gpus_per_worker or None,
        )  # Ray Data's actor pools restart a killed actor and retry its block (max_restarts=-1,
        # max_task_retries=-1 by default): no row is lost, and a block that kills every actor it
        # meets ends as a no-progress timeout rather than an endless loop
        del window, blocks
        answers = iter(dataset.iter_batches(batch_format="pandas", batch_size=None))
        try:
            while True:
                try:
                    frame = next(answers)
                except StopIteration:
                    break
                except Exception as exc:  # Ray's errors: timeouts, actors that cannot start, retries exhausted
                    raise RayError(_ray_failure(exc, sizing)) from None
                on_block(frame)
                yield from results_of(frame)
                if should_stop():
                    return
        finally:
            getattr(answers, "close", lambda: None)()  # a stopped run stops its execution now, not at GC


def _ray_failure(exc: BaseException, sizing: Sizing) -> str:
    """One line for a failed Ray execution, with what to change when it is a hang."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()] or [type(exc).__name__]
    if type(exc).__name__ == "ExecutionTimeoutError":
        gpus = f", {sizing.gpus_per_worker:g} GPU" if sizing.gpus_per_worker else ""
        return (f"Ray made no progress ({lines[0]}); the actors ({sizing.max_workers} x {sizing.cpus_per_worker:g} "
                f"CPU{gpus}) may not fit the cluster: lower --workers, --cpus-per-worker or --gpus-per-worker")
    useful = [ln for ln in lines if "Error" in ln and not ln.startswith(("Traceback", "File "))]
    return f"the Ray run failed: {(useful or lines)[-1]}"


def run_explain_ray(
    items: Iterable[Review | RowError],
    settings: Settings,
    write: Callable[[list[Explanation]], None],
    *,
    model: ModelSpec,
    options: RayOptions,
    done: set[str] | None = None,
    on_error: Callable[[RowError], None] = lambda err: None,
    on_outcome: Callable[[Outcome], None] = lambda outcome: None,
    should_stop: Callable[[], bool] = lambda: False,
    fail_fast: bool = False,
    on_ready: Callable[[Sizing], None] = lambda sizing: None,
    parts: Any = None,
    on_block: Callable[[Any], None] = lambda frame: None,
) -> RunSummary:
    """``pipeline.run_explain`` on Ray: the same skipping, writing order, counts and exit codes."""
    skipped, exhausted, complete = [0], [False], [False]
    with ray_session(options) as (ray, sizing):
        on_ready(sizing)
        stream = explain_on_ray(ray, sizing, model, settings, _skip_done(items, done or set(), skipped, exhausted),
                                options, should_stop, complete, parts, on_block)
        explained, failed, truncated, stopped_at = consume(stream, write, on_error, on_outcome, fail_fast)
    interrupted = stopped_at is None and not complete[0] and should_stop()
    return RunSummary(explained, skipped[0], failed, truncated, interrupted, stopped_at)


def ray_runner(items: Iterable[Review | RowError], settings: Settings, writer: Any, display: Any, model: ModelSpec,
               options: RayOptions) -> Callable[..., RunSummary]:
    """``run_explain_ray`` with everything but the writer callbacks bound, for ``cli._run`` (which feeds the
    writers, HTML report, progress and preview in input order, and handles Ctrl-C as for a local run).
    ``writer``: ``writers.Outputs`` (the driver writes every record) or ``ray_parts.OutputDir``
    (``--output-dir``: the actors write parts and the driver only records them)."""
    from saliency_cli.console import err, plural

    def on_ready(sizing: Sizing) -> None:
        if not display.quiet:
            where = options.address or "a private local instance"
            workers = (f"{sizing.max_workers}" if sizing.min_workers == sizing.max_workers
                       else f"{sizing.min_workers}-{sizing.max_workers}")
            gpus = f", {sizing.gpus_per_worker:g} GPU" if sizing.gpus_per_worker else ""
            noun = 'worker' if sizing.max_workers == 1 else 'workers'
            err.print(f"ray: {workers} {noun} on {where} ({sizing.cpus_per_worker:g} CPU{gpus}, "
                      f"{plural(sizing.torch_threads, 'torch thread')} each)", markup=False)

    return functools.partial(run_explain_ray, items, settings, model=model, options=options, on_ready=on_ready,
                             parts=getattr(writer, "spec", None), on_block=getattr(writer, "add", lambda frame: None))

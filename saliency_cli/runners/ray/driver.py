"""The Ray runner (``--engine ray``): the same rows as the local runner, explained by a Ray Data actor
pool in one execution per run.

The input is one Ray dataset (``reading``): files are indexed by a pre-pass and read by Ray read
tasks in parallel, piece by piece, with the rows ``--resume`` found done skipped there; reviews given
as arguments or on stdin are read here. Batches are cut at the same input rows as the local runner
cuts them. ``map_batches(Explainer, compute=ActorPoolStrategy(...))`` runs once for the whole run,
so each actor loads the model once (again only if Ray restarts it); with order preserved, every
answered block comes back in input order and goes at once to the same sinks as a local run. Only
"which process calls ``explain_batch`` on which batch" differs from the local runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from saliency_cli.model import ModelSpec
from saliency_cli.records import Outcome, Review, RowError
from saliency_cli.runners.ray.actor import Explainer, extras_of, results_of
from saliency_cli.runners.ray.cluster import RayError, RayOptions, Sizing, ray_session
from saliency_cli.runners.ray.loads import LoadCount, start_counter, stop_counter
from saliency_cli.settings import Settings

READ_CONCURRENCY_PER_WORKER = 2  # read (and index) tasks in flight per actor: reading is light next to explaining


def _blocks(settings: Settings, options: RayOptions, keep: Any) -> Any:
    """Blocks of whole batches (at least one): from ``first_block_rows`` rows, doubling, up to
    ``part_rows`` with ``--output-dir`` (one part each), else up to ``block_rows``."""
    from saliency_cli.runners.ray.parts import PartSpec
    from saliency_cli.runners.ray.reading import Blocks

    most = options.part_rows if isinstance(keep, PartSpec) else options.block_rows
    return Blocks(settings.batch_size, max(1, most // settings.batch_size),
                  max(1, options.first_block_rows // settings.batch_size))


def input_dataset(ray: Any, items: Any, settings: Settings, options: RayOptions, keep: Any,
                  sizing: Sizing) -> tuple[Any, int | None]:
    """The run's input as one dataset, and the rows ``--resume`` skipped (None when the driver read the
    input: the run loop counted them)."""
    from saliency_cli.runners.ray.reading import InputPieces, driver_blocks, grown, index_files

    blocks = _blocks(settings, options, keep)
    concurrency = max(2, READ_CONCURRENCY_PER_WORKER * sizing.max_workers)
    files = getattr(items, "files", ())
    if not files:  # arguments or stdin: read here, into the object store
        refs = driver_blocks(ray, items, blocks)
        return ray.data.from_pandas_refs(refs) if refs else None, None
    close = getattr(getattr(items, "items", None), "close", None)
    if close is not None:
        close()  # the workers read the files: let go of the driver's open stream
    # one read task per block: each actor call then gets exactly one block and answers it at once (a
    # read task's blocks would reach the actors merged, as Ray Data shapes blocks by bytes)
    granule = min(blocks.first, blocks.batches) * settings.batch_size
    indexed = index_files(ray, files, items.items.spec, items.done, granule, concurrency)
    if not indexed.pieces:
        return None, indexed.skipped
    source = InputPieces(grown(indexed.pieces, blocks), items.items.spec, blocks)
    return ray.data.read_datasource(source, num_cpus=0, concurrency=concurrency), indexed.skipped


def explain_on_ray(ray: Any, sizing: Sizing, model: ModelSpec, settings: Settings, items: Any, options: RayOptions,
                   should_stop: Callable[[], bool] = lambda: False, keep: Any = None,
                   on_extra: Callable[[Any], None] = lambda extra: None,
                   on_loads: Callable[[LoadCount], None] = lambda count: None) -> Iterator[Outcome | RowError]:
    """One Outcome or RowError per input item, in input order, computed by the actor pool in one
    execution. A stop request ends the run after the block being yielded; Ray's failures become RayError."""
    from ray.data import ActorPoolStrategy

    if sizing.min_workers == sizing.max_workers:
        pool = ActorPoolStrategy(size=sizing.max_workers)
    else:
        pool = ActorPoolStrategy(min_size=sizing.min_workers, max_size=sizing.max_workers)
    loads = start_counter(ray)
    passed, exhausted, skipped = 0, False, None
    try:
        dataset, skipped = input_dataset(ray, items, settings, options, keep, sizing)
        if dataset is None:
            exhausted = True
            return
        mapped = dataset.map_batches(
            Explainer,
            fn_constructor_kwargs=dict(model=model, settings=settings, torch_threads=sizing.torch_threads, keep=keep,
                                       loads=loads),
            batch_size=_blocks(settings, options, keep).rows,  # every block has this many rows: one Ray batch each
            batch_format="pandas", compute=pool, num_cpus=sizing.cpus_per_worker,
            num_gpus=sizing.gpus_per_worker or None,
        )  # Ray Data's actor pools restart a killed actor and retry its block (max_restarts=-1,
        # max_task_retries=-1 by default); read tasks and lost blocks are retried or rebuilt from
        # their lineage: no row is lost, and a block that kills every actor it meets ends as a
        # no-progress timeout rather than an endless loop
        for frame in _answers(mapped, sizing):
            for extra in extras_of(frame):
                on_extra(extra)
            for result in results_of(frame):
                passed += 1
                yield result
            if should_stop():
                return
        exhausted = True
    finally:
        if skipped is not None:
            items.read_elsewhere(skipped, passed, exhausted)
        on_loads(stop_counter(ray, loads))


def _answers(mapped: Any, sizing: Sizing) -> Iterator[Any]:
    """The answered blocks in input order; a stopped run stops its execution at once, not at GC."""
    answers = iter(mapped.iter_batches(batch_format="pandas", batch_size=None, prefetch_batches=0))
    try:
        while True:
            try:
                frame = next(answers)
            except StopIteration:
                return
            except Exception as exc:  # Ray's errors: timeouts, actors that cannot start, retries exhausted
                raise RayError(_ray_failure(exc, sizing)) from None
            yield frame
    finally:
        getattr(answers, "close", lambda: None)()


def _ray_failure(exc: BaseException, sizing: Sizing) -> str:
    """One line for a failed Ray execution, with what to change when it is a hang."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()] or [type(exc).__name__]
    if type(exc).__name__ == "ExecutionTimeoutError":
        gpus = f", {sizing.gpus_per_worker:g} GPU" if sizing.gpus_per_worker else ""
        return (f"Ray made no progress ({lines[0]}); the actors ({sizing.max_workers} x {sizing.cpus_per_worker:g} "
                f"CPU{gpus}) may not fit the cluster: lower --workers, --cpus-per-worker or --gpus-per-worker")
    useful = [ln for ln in lines if "Error" in ln and not ln.startswith(("Traceback", "File "))]
    return f"the Ray run failed: {(useful or lines)[-1]}"


@dataclass(frozen=True)
class RayRunner:
    """The runner of ``--engine ray`` (see ``runners.Runner``): a private local Ray, or a cluster,
    for as long as its results are read. ``keep``: what the actors do with the records (``None``: send
    them back; ``parts.PartSpec``: write parts; ``actor.Tallied``: tally them, the tallies go to
    ``on_extra``); ``on_ready`` is told how the actors were sized, ``on_loads`` how many loaded the model."""

    model: ModelSpec
    settings: Settings
    options: RayOptions
    keep: Any = None
    on_ready: Callable[[Sizing], None] = lambda sizing: None
    on_extra: Callable[[Any], None] = lambda extra: None
    on_loads: Callable[[LoadCount], None] = lambda count: None

    def results(self, items: Iterable[Review | RowError],
                should_stop: Callable[[], bool] = lambda: False) -> Iterator[Outcome | RowError]:
        with ray_session(self.options) as (ray, sizing):
            self.on_ready(sizing)
            yield from explain_on_ray(ray, sizing, self.model, self.settings, items, self.options, should_stop,
                                      self.keep, self.on_extra, self.on_loads)

"""The Ray runner (``explain --engine ray``): the same rows as the local runner, explained by a Ray
Data actor pool.

The driver reads the input with the usual readers, skips ``--resume``'d ids (``loop.run``) and cuts
batches aligned to input rows with ``batches.row_batches``, as the local runner does. It hands Ray
bounded windows of batches (``RayOptions.window`` per worker; one pandas block per batch, or per
``part_rows`` input rows with ``--output-dir``), so its memory does not grow with the input; each
window runs ``map_batches(Explainer, compute=ActorPoolStrategy(...))`` with order preserved, and
every answered block goes at once to the same sinks as a local run. Only "which process calls
``explain_batch`` on which batch" differs from the local runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from saliency_cli.model import ModelSpec
from saliency_cli.records import Outcome, Review, RowError
from saliency_cli.runners.batches import row_batches
from saliency_cli.runners.ray.actor import Explainer, results_of, to_frame
from saliency_cli.runners.ray.cluster import RayError, RayOptions, Sizing, ray_session
from saliency_cli.runners.ray.parts import PartSpec
from saliency_cli.settings import Settings


def explain_on_ray(ray: Any, sizing: Sizing, model: ModelSpec, settings: Settings, items: Iterable[Review | RowError],
                   options: RayOptions, should_stop: Callable[[], bool] = lambda: False,
                   parts: PartSpec | None = None) -> Iterator[Outcome | RowError]:
    """One Outcome or RowError per input item, in input order, computed by the actor pool window by
    window. A stop request ends the run after the block being yielded; Ray's failures become RayError."""
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
        if not window or should_stop():  # the stop is checked once the window is read: the end is then known
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


@dataclass(frozen=True)
class RayRunner:
    """The runner of ``--engine ray`` (see ``runners.Runner``): a private local Ray, or a cluster,
    for as long as its results are read; ``on_ready`` is told how the actors were sized."""

    model: ModelSpec
    settings: Settings
    options: RayOptions
    parts: PartSpec | None = None  # --output-dir: the actors write the records there
    on_ready: Callable[[Sizing], None] = lambda sizing: None

    def results(self, items: Iterable[Review | RowError],
                should_stop: Callable[[], bool] = lambda: False) -> Iterator[Outcome | RowError]:
        with ray_session(self.options) as (ray, sizing):
            self.on_ready(sizing)
            yield from explain_on_ray(ray, sizing, self.model, self.settings, items, self.options, should_stop,
                                      self.parts)

"""Counting model loads across the actors of one run: a small Ray actor on the driver's node that
each ``Explainer`` tells when it has loaded the model (a restarted actor loads it again), so the run
can report how many actors served it and how many times the model was loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LoadCount:
    """How many distinct actors loaded the model in this run, how many times in all, on how many nodes."""

    actors: int = 0
    model_loads: int = 0
    nodes: int = 0


class LoadCounter:
    """The counter's state (a Ray actor, see ``start_counter``)."""

    def __init__(self) -> None:
        self.loads: list[tuple[str, str, int]] = []

    def loaded(self, actor: str, node: str, pid: int) -> int:
        self.loads.append((actor, node, pid))
        return len(self.loads)

    def count(self) -> LoadCount:
        return LoadCount(len({a for a, _, _ in self.loads}), len(self.loads), len({n for _, n, _ in self.loads}))

    def where(self) -> list[tuple[str, str, int]]:
        """(actor, node, process id) of every load, in order (to find where an actor runs)."""
        return list(self.loads)


COUNTER_NAME = "saliency_cli.model_loads"  # one per run; a driver's own Ray namespace keeps runs of other jobs apart


def start_counter(ray: Any) -> Any:
    """A counter actor pinned to the driver's node (it needs no CPU, and outlives any worker node),
    named ``COUNTER_NAME`` while the run lasts (``stop_counter`` ends it)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    try:  # one left on this Ray instance by an earlier run that could not end it (a second Ctrl-C as it started)
        ray.kill(ray.get_actor(COUNTER_NAME))
    except ValueError:
        pass
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return ray.remote(num_cpus=0)(LoadCounter).options(scheduling_strategy=here, name=COUNTER_NAME).remote()


def stop_counter(ray: Any, counter: Any) -> LoadCount:
    """The run's count, and the counter ended."""
    try:
        return ray.get(counter.count.remote())
    finally:
        ray.kill(counter)

"""How far the batch in progress has come, for a progress bar: the work of the model chunks done
(tokens x passes), against an estimate made when the batch starts. Reported only; never used for
the results. A batch without a meter (the default) reports nothing."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, Sequence

from saliency_cli.engine.encoding import Encoded, features
from saliency_cli.methods import GradientMethod, PerturbationMethod
from saliency_cli.settings import Settings

Report = Callable[[float], None]  # the fraction of the batch done, below 1 until it ends
_meter: ContextVar["Meter | None"] = ContextVar("saliency_cli_meter", default=None)
FAITHFULNESS_COPIES = 12  # at most: F(x), F(empty), and a comprehensiveness and sufficiency copy per bin


class Meter:
    """Work done of an estimated total, told to ``report`` as a fraction (capped below 1)."""

    def __init__(self, total: float, report: Report):
        self.total, self.report, self.done = max(total, 1.0), report, 0.0

    def add(self, work: float) -> None:
        self.done += work
        self.report(min(0.99, self.done / self.total))


@contextmanager
def metered(total: float, report: Report | None) -> Iterator[None]:
    """Chunks run inside this block count towards ``total``, reported to ``report``."""
    if report is None:
        yield
        return
    token = _meter.set(Meter(total, report))
    try:
        yield
    finally:
        _meter.reset(token)


def advance(work: float) -> None:
    """A chunk of ``work`` (tokens x passes) is done: tell the batch's meter, if it has one."""
    meter = _meter.get()
    if meter is not None:
        meter.add(work)


def _targets(settings: Settings, labels: int) -> int:
    """How many targets a review gets, about: all labels, or one per name (``predicted`` included)."""
    return labels if any(t.strip().lower() == "all" for t in settings.targets) else len(settings.targets)


def estimate(settings: Settings, encs: Sequence[Encoded], labels: int) -> float:
    """The batch's work in tokens x passes (a forward counts 1, each backward 1), as the engine will
    run it: the input pass, each gradient method's points, each perturbation method's copies, and the
    faithfulness copies. An estimate: copies two methods share run once, adaptive steps add work."""
    targets = _targets(settings, labels)
    runs = settings.methods
    per_token = 1.0 + (targets if any(isinstance(r.method, GradientMethod) and r.method.at_input for r in runs) else 0)
    for r in runs:
        if isinstance(r.method, GradientMethod) and not r.method.at_input:
            plan = r.method.plan(r.params)
            per_token += len(plan.weights) * (1 + targets) + (1 if plan.baseline is not None else 0)
    if settings.faithfulness:
        per_token += FAITHFULNESS_COPIES * len(runs) * targets
    work = per_token * sum(e.length for e in encs)
    for r in runs:
        if isinstance(r.method, PerturbationMethod):
            for e in encs:
                n = len(features(e, r.method.unit(r.params)))
                work += e.length * len(r.method.masks(n, r.params, e.review.text))
    return work

"""A model and settings checked against each other once, before any batch: ``prepare``."""

from __future__ import annotations

from dataclasses import dataclass, replace

from saliency_cli.engine import forward
from saliency_cli.engine.budget import memory_budget
from saliency_cli.engine.precision import resolve_dtype
from saliency_cli.engine.targets import check_targets
from saliency_cli.methods import PerturbationMethod
from saliency_cli.model.loading import LoadedModel
from saliency_cli.settings import MethodRun, Settings


@dataclass(frozen=True)
class Context:
    """A model and settings checked against each other once: dtype resolved, budget fixed."""

    lm: LoadedModel
    settings: Settings
    budget: int


def prepare(lm: LoadedModel, settings: Settings) -> Context:
    """Check the settings against the model (targets, dtype, replacement tokens); ValueError if they clash."""
    check_targets(lm, settings.targets)
    runs = []
    for run in settings.methods:
        if isinstance(run.method, PerturbationMethod) and run.method.replaces:
            kind = run.method.replacement(run.params) or forward.default_replacement(lm)
            forward.replacement_id(lm, kind)
            run = MethodRun(run.method, run.method.with_replacement(run.params, kind))
        runs.append(run)
    removed = settings.faithfulness_baseline or forward.default_replacement(lm)
    if settings.faithfulness:
        forward.replacement_id(lm, removed)
    settings = replace(settings, methods=tuple(runs), dtype=resolve_dtype(settings.dtype, lm),
                       faithfulness_baseline=removed)
    return Context(lm, settings, memory_budget(lm, settings.max_memory))



"""The per-batch core: ``prepare`` once, then ``explain_batch`` on each list of reviews.

    context = prepare(model, settings)
    results = explain_batch(context, reviews)   # one Outcome or RowError per input item, in order

No I/O. The local file stream, the Python API and any other runner call these two and nothing else
of the engine. Inside a call: reviews are encoded (long ones truncated or cut into windows),
sorted by length and grouped under the memory budget; each group gets one input pass (prediction,
targets, at-input gradients) and the path passes of the gradient methods; then the perturbed
copies of every forward-only method and review of the call are run together; finally the records
are built, windows stitched and normalised. With ``faithfulness``, one more forward-only phase runs
the comprehensiveness / sufficiency copies of every (encoding, method, target) together.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import torch

from saliency_cli.engine import gradients, progress
from saliency_cli.engine.assemble import Scored, outcome
from saliency_cli.engine.forward_phases import faithfulness_phase, perturbation_phase
from saliency_cli.engine.budget import groups
from saliency_cli.engine.context import Context
from saliency_cli.engine.encoding import Encoded, encode
from saliency_cli.engine.isolation import each_or_alone, row_error
from saliency_cli.engine.tensors import Padded
from saliency_cli.methods import GradientMethod
from saliency_cli.records import Outcome, Review, RowError
from saliency_cli.settings import MethodRun


def explain_batch(ctx: Context, items: Sequence[Review | RowError],
                  report: progress.Report | None = None) -> list[Outcome | RowError]:
    """Explain a batch: one Outcome (or RowError) per item, in input order. Row errors pass through;
    a review the model fails on becomes a RowError without costing the others. ``report`` is told
    the fraction of the batch done as its chunks finish (for a progress bar)."""
    lm, settings = ctx.lm, ctx.settings
    results: dict[int, Outcome | RowError] = {i: it for i, it in enumerate(items) if isinstance(it, RowError)}
    reviews = [(i, it) for i, it in enumerate(items) if isinstance(it, Review)]
    flat: list[tuple[int, Encoded]] = []
    known: dict[int, tuple[list[float], torch.Tensor]] = {}  # flat index -> windows' own prediction
    for (pos, _), enc in zip(reviews, encode(lm, [r for _, r in reviews], settings.long_text, settings.window_overlap)):
        if isinstance(enc, RowError):
            results[pos] = enc
            continue
        if len(enc) > 1:
            known.update(_window_predictions(ctx, enc, len(flat)))
        flat.extend((pos, e) for e in enc)
    total = progress.estimate(settings, [e for _, e in flat], len(lm.labels)) if report else 0.0
    with progress.metered(total, report):
        scored = _scores(ctx, flat, known, results)
    parts: dict[int, list[Scored]] = {}
    for i, (pos, _) in enumerate(flat):
        if pos not in results:
            parts.setdefault(pos, []).append(scored[i])
    for pos, done in parts.items():
        results[pos] = outcome(lm, done, settings)
    return [results[i] for i in range(len(items))]


def _scores(ctx: Context, flat: list[tuple[int, Encoded]], known: dict[int, tuple[list[float], torch.Tensor]],
            results: dict[int, Outcome | RowError]) -> dict[int, Scored]:
    """Every phase of the batch on its encodings: gradient groups by length, finer passes, the
    perturbation copies, the faithfulness copies. Rows the model fails on go to ``results``."""
    order = sorted(range(len(flat)), key=lambda i: flat[i][1].length)
    scored: dict[int, Scored] = {}
    for group in groups(ctx.lm, order, lambda i: flat[i][1].length, len(order), ctx.budget):
        for i, s in zip(group, _gradient_group(ctx, [flat[i] for i in group], [known.get(i) for i in group])):
            if isinstance(s, RowError):
                results[flat[i][0]] = s
            else:
                scored[i] = s
    _refine(ctx, flat, [i for i in order if i in scored and flat[i][0] not in results], scored)
    perturbation_phase(ctx, flat, scored, results)
    if ctx.settings.faithfulness:
        faithfulness_phase(ctx, flat, scored, results)
    return scored


def _window_predictions(ctx: Context, windows: list[Encoded], first: int) -> dict[int, tuple[list[float], torch.Tensor]]:
    """A long review's prediction is the mean of its windows' probabilities; every window explains it.
    Returns, per window (by flat index), the review's probabilities and the window's own F values."""
    batch = Padded(ctx.lm, windows)
    with torch.no_grad():
        emb = ctx.lm.model.get_input_embeddings()(batch.ids)
    probability = replace(ctx.settings, attribute="probability")
    probs = gradients.forward_values(ctx.lm, batch, emb, probability, ctx.budget)
    values = probs if ctx.settings.attribute == "probability" else gradients.forward_values(
        ctx.lm, batch, emb, ctx.settings, ctx.budget
    )
    mean = [float(p) for p in probs.mean(0)]
    return {first + w: (mean, values[w]) for w in range(len(windows))}


def _gradient_group(
    ctx: Context, members: list[tuple[int, Encoded]], known: list[tuple[list[float], torch.Tensor] | None]
) -> list[Scored | RowError]:
    """A padded group through the gradient family; if the model fails on it, row by row, so only the
    culprit is lost."""
    pairs = [(e, k) for (_, e), k in zip(members, known)]
    return each_or_alone(pairs, lambda some: _gradient_scores(ctx, [e for e, _ in some], [k for _, k in some]),
                         lambda pair, exc: row_error(pair[0], exc))


def _gradient_scores(
    ctx: Context, encs: Sequence[Encoded], known: Sequence[tuple[list[float], torch.Tensor] | None],
    runs: Sequence[MethodRun] | None = None,
) -> list[Scored]:
    """Prediction, targets and the raw scores of every gradient method for one padded group."""
    lm, settings = ctx.lm, ctx.settings
    runs = [r for r in (settings.methods if runs is None else runs) if isinstance(r.method, GradientMethod)]
    batch = Padded(lm, encs)
    with torch.no_grad():
        emb = lm.model.get_input_embeddings()(batch.ids)
    shared = [r for r in runs if r.method.at_input]
    given = {r: k for r, k in enumerate(known) if k is not None}
    first = gradients.input_pass(lm, batch, emb, settings, shared, ctx.budget, given)
    scored = [Scored(enc, first.probs[b], first.targets[b], first.values[b]) for b, enc in enumerate(encs)]
    items = [(b, t) for b, ts in enumerate(first.targets) for t in ts]
    for run in runs:
        name = run.method.name
        if run.method.at_input:
            for b, t in items:
                scored[b].raw[(name, t)] = first.scores[(name, b, t)][: encs[b].length].tolist()
            continue
        _path_scores(ctx, batch, emb, run, items, first.values, scored)
    return scored


def _path_scores(
    ctx: Context, batch: Padded, emb: torch.Tensor, run: MethodRun, items: list[tuple[int, int]],
    values: torch.Tensor, scored: list[Scored],
) -> None:
    """One path method's raw scores (and completeness gap, where it has a baseline) into ``scored``."""
    base = base_values = None
    kind = run.method.plan(run.params).baseline
    if kind is not None:
        with torch.no_grad():
            base = gradients.baseline_embeddings(ctx.lm, batch, emb, kind)
            base_values = gradients.forward_values(ctx.lm, batch, base, ctx.settings, ctx.budget)
    scores = gradients.path_pass(ctx.lm, batch, emb, base, run, items, ctx.settings, ctx.budget).cpu()
    name = run.method.name
    for i, (b, t) in enumerate(items):
        raw = scores[i, : batch.encs[b].length].tolist()
        scored[b].raw[(name, t)] = raw
        scored[b].params[name] = run.params
        if base_values is not None:
            scored[b].delta[(name, t)] = float(sum(raw) - (float(values[b, t]) - float(base_values[b, t])))


def _refine(ctx: Context, flat: list[tuple[int, Encoded]], pending: list[int], scored: dict[int, Scored]) -> None:
    """Finer passes of the gradient methods that ask for them (adaptive Integrated Gradients): the
    encodings whose result is not good enough are redone with the method's finer parameters, until
    every result is good enough or the method has no finer pass left."""
    for run in ctx.settings.methods:
        if isinstance(run.method, GradientMethod):
            _refine_method(ctx, flat, run, list(pending), scored)


def _refine_method(ctx: Context, flat: list[tuple[int, Encoded]], run: MethodRun, pending: list[int],
                   scored: dict[int, Scored]) -> None:
    method, name, params = run.method, run.method.name, run.params
    while pending:
        pending = [i for i in pending if not all(
            method.good_enough(params, scored[i].raw[(name, t)], scored[i].delta.get((name, t)))
            for t in scored[i].targets
        )]
        finer = method.finer(params)
        if not pending or finer is None:
            return
        params = finer
        for group in groups(ctx.lm, pending, lambda i: flat[i][1].length, len(pending), ctx.budget):
            encs = [flat[i][1] for i in group]
            batch = Padded(ctx.lm, encs)
            with torch.no_grad():
                emb = ctx.lm.model.get_input_embeddings()(batch.ids)
            redo = [Scored(e, scored[i].probs, scored[i].targets, scored[i].values) for e, i in zip(encs, group)]
            items = [(b, t) for b, s in enumerate(redo) for t in s.targets]
            values = torch.stack([scored[i].values for i in group])
            _path_scores(ctx, batch, emb, MethodRun(method, params), items, values, redo)
            for i, s in zip(group, redo):
                scored[i].raw.update(s.raw)
                scored[i].delta.update(s.delta)
                scored[i].params[name] = params

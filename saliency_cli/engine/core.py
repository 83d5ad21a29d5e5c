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

from dataclasses import dataclass, replace
from typing import Sequence

import torch

from saliency_cli import faithfulness as faith
from saliency_cli.aggregate import trim_span
from saliency_cli.engine import forward, gradients
from saliency_cli.engine.assemble import Outcome, Scored, outcome
from saliency_cli.engine.budget import groups, memory_budget
from saliency_cli.engine.encoding import Encoded, encode, features
from saliency_cli.engine.precision import resolve_dtype
from saliency_cli.engine.targets import check_targets
from saliency_cli.engine.tensors import Padded
from saliency_cli.methods import GradientMethod, PerturbationMethod
from saliency_cli.model import LoadedModel
from saliency_cli.records import Review, RowError
from saliency_cli.settings import MethodRun, Settings

ROW_FAILURES = (RuntimeError, ValueError, IndexError)  # what a bad row can make the model raise


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
        if isinstance(run.method, PerturbationMethod):
            kind = run.params.get("baseline") or forward.default_replacement(lm)
            forward.replacement_id(lm, kind)
            run = MethodRun(run.method, {**run.params, "baseline": kind})
        runs.append(run)
    settings = replace(settings, methods=tuple(runs), dtype=resolve_dtype(settings.dtype, lm))
    return Context(lm, settings, memory_budget(lm, settings.max_memory))


def explain_batch(ctx: Context, items: Sequence[Review | RowError]) -> list[Outcome | RowError]:
    """Explain a batch: one Outcome (or RowError) per item, in input order. Row errors pass through;
    a review the model fails on becomes a RowError without costing the others."""
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
    order = sorted(range(len(flat)), key=lambda i: flat[i][1].length)
    scored: dict[int, Scored] = {}
    for group in groups(lm, order, lambda i: flat[i][1].length, len(order), ctx.budget):
        for i, s in zip(group, _gradient_group(ctx, [flat[i] for i in group], [known.get(i) for i in group])):
            if isinstance(s, RowError):
                results[flat[i][0]] = s
            else:
                scored[i] = s
    _refine_integrated_gradients(ctx, flat, [i for i in order if i in scored and flat[i][0] not in results], scored)
    _perturbation_methods(ctx, flat, scored, results)
    if settings.faithfulness:
        _faithfulness(ctx, flat, scored, results)
    parts: dict[int, list[Scored]] = {}
    for i, (pos, _) in enumerate(flat):
        if pos not in results:
            parts.setdefault(pos, []).append(scored[i])
    for pos, done in parts.items():
        results[pos] = outcome(lm, done, settings)
    return [results[i] for i in range(len(items))]


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
    encs = [e for _, e in members]
    try:
        return list(_gradient_scores(ctx, encs, known))
    except ROW_FAILURES:
        out: list[Scored | RowError] = []
        for enc, k in zip(encs, known):
            try:
                out.extend(_gradient_scores(ctx, [enc], [k]))
            except ROW_FAILURES as exc:
                out.append(_row_error(enc, exc))
        return out


def _row_error(enc: Encoded, exc: BaseException) -> RowError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return RowError(enc.review.row, enc.review.id, f"model failed on this row: {first}")


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
    if run.method.plan(run.params).needs_baseline:
        with torch.no_grad():
            base = gradients.baseline_embeddings(ctx.lm, batch, emb, run.params["baseline"])
            base_values = gradients.forward_values(ctx.lm, batch, base, ctx.settings, ctx.budget)
    scores = gradients.path_pass(ctx.lm, batch, emb, base, run, items, ctx.settings, ctx.budget).cpu()
    name = run.method.name
    for i, (b, t) in enumerate(items):
        raw = scores[i, : batch.encs[b].length].tolist()
        scored[b].raw[(name, t)] = raw
        scored[b].params[name] = run.params
        if base_values is not None:
            scored[b].delta[(name, t)] = float(sum(raw) - (float(values[b, t]) - float(base_values[b, t])))


def needs_more_steps(raw: Sequence[float], delta: float | None, tolerance: float) -> bool:
    """Whether an IG completeness gap exceeds ``tolerance`` of F(x) - F(baseline)."""
    if delta is None:
        return False
    change = sum(float(s) for s in raw) - delta
    return abs(delta) > tolerance * abs(change)


def _refine_integrated_gradients(ctx: Context, flat: list[tuple[int, Encoded]], pending: list[int],
                                 scored: dict[int, Scored]) -> None:
    """Adaptive IG (``tolerance`` set): redo the encodings whose gap is too large with twice the steps,
    until every gap is small enough or the step limit is reached."""
    settings = ctx.settings
    for run in settings.methods:
        if run.method.name != "integrated-gradients" or not run.params.get("tolerance"):
            continue
        name, tol, steps = run.method.name, float(run.params["tolerance"]), int(run.params["steps"])
        while pending and steps < int(run.params["max_steps"]):
            pending = [i for i in pending if any(
                needs_more_steps(scored[i].raw[(name, t)], scored[i].delta.get((name, t)), tol)
                for t in scored[i].targets
            )]
            steps = min(2 * steps, int(run.params["max_steps"]))
            finer = MethodRun(run.method, {**run.params, "steps": steps})
            for group in groups(ctx.lm, pending, lambda i: flat[i][1].length, len(pending), ctx.budget):
                encs = [flat[i][1] for i in group]
                batch = Padded(ctx.lm, encs)
                with torch.no_grad():
                    emb = ctx.lm.model.get_input_embeddings()(batch.ids)
                redo = [Scored(e, scored[i].probs, scored[i].targets, scored[i].values) for e, i in zip(encs, group)]
                items = [(b, t) for b, s in enumerate(redo) for t in s.targets]
                values = torch.stack([scored[i].values for i in group])
                _path_scores(ctx, batch, emb, finer, items, values, redo)
                for i, s in zip(group, redo):
                    scored[i].raw.update(s.raw)
                    scored[i].delta.update(s.delta)
                    scored[i].params[name] = finer.params


def _perturbation_methods(
    ctx: Context, flat: list[tuple[int, Encoded]], scored: dict[int, Scored], results: dict[int, Outcome | RowError]
) -> None:
    """Every forward-only method on every live encoding of the batch, their copies run together;
    if the model fails on them, encoding by encoding, so only the culprit's review is lost."""
    runs = [r for r in ctx.settings.methods if isinstance(r.method, PerturbationMethod)]
    live = [i for i in scored if flat[i][0] not in results]
    if not runs or not live:
        return
    try:
        _perturbation_scores(ctx, [(flat[i][1], scored[i]) for i in live], runs)
    except ROW_FAILURES:
        for i in live:
            try:
                _perturbation_scores(ctx, [(flat[i][1], scored[i])], runs)
            except ROW_FAILURES as exc:
                results[flat[i][0]] = _row_error(flat[i][1], exc)


def _perturbation_scores(ctx: Context, members: list[tuple[Encoded, Scored]], runs: list[MethodRun]) -> None:
    """Raw per-token scores of the perturbation methods: a feature's score is shared evenly by its
    tokens that show text, so a word's score (the sum of its tokens) is the method's score for that word."""
    requests, owners = [], []
    for enc, s in members:
        for run in runs:
            feats = features(enc, run.params["features"])
            key = enc.review.text[enc.offsets[feats[0][0]][0]:]  # the review, from this window's first token
            masks = run.method.masks(len(feats), run.params, key)
            requests.append(forward.Copies(enc, feats, masks, run.params["baseline"]))
            owners.append((run, s))
    for c, values, (run, s) in zip(requests, forward.run_copies(ctx.lm, requests, ctx.settings, ctx.budget), owners):
        for t in s.targets:
            result = run.method.attribute(c.masks, values[:, t], run.params)
            raw = [0.0] * c.enc.length
            for f, positions in enumerate(c.features):
                carriers = _visible(c.enc, positions)
                for pos in carriers:
                    raw[pos] = float(result.scores[f]) / len(carriers)
            s.raw[(run.method.name, t)] = raw
            if result.extra:
                s.extra[(run.method.name, t)] = dict(result.extra)


def _visible(enc: Encoded, positions: Sequence[int]) -> list[int]:
    """The positions whose span holds text once trimmed (what a word record sums); all if none does.
    A bare space-marker piece (BPE 'Ġ', unigram '▁') is replaced with its word but carries no score."""
    spans = {p: trim_span(enc.review.text, *enc.offsets[p]) for p in positions}
    shown = [p for p in positions if spans[p][1] > spans[p][0]]
    return shown or list(positions)


def _faithfulness(
    ctx: Context, flat: list[tuple[int, Encoded]], scored: dict[int, Scored], results: dict[int, Outcome | RowError]
) -> None:
    """ERASER comprehensiveness and sufficiency of every (method, target) of every live encoding, into
    ``Scored.faith``: all copies in one ``run_copies`` call, so the full and fully-replaced inputs (and any
    copy two methods share) run once per encoding. Windowed reviews are skipped (see README)."""
    live = [i for i in scored if flat[i][0] not in results and flat[i][1].n_windows == 1]
    if not live:
        return
    try:
        _faithfulness_scores(ctx, [scored[i] for i in live])
    except ROW_FAILURES:
        for i in live:
            try:
                _faithfulness_scores(ctx, [scored[i]])
            except ROW_FAILURES as exc:
                results[flat[i][0]] = _row_error(flat[i][1], exc)


def word_scores(s: Scored, name: str, t: int, feats: Sequence[Sequence[int]]) -> list[float]:
    """A method's score per word feature: its raw per-token scores summed over the word's tokens that show
    text (the sum its word record holds; a bare space-marker piece is left out there too)."""
    raw = s.raw[(name, t)]
    return [float(sum(raw[p] for p in _visible(s.enc, positions))) for positions in feats]


def _faithfulness_scores(ctx: Context, members: list[Scored]) -> None:
    baseline = forward.default_replacement(ctx.lm)
    names = [r.method.name for r in ctx.settings.methods]
    requests, owners = [], []
    for s in members:
        feats = features(s.enc, "word")
        for name in names:
            for t in s.targets:
                scores = word_scores(s, name, t, feats)
                requests.append(forward.Copies(s.enc, feats, faith.masks(scores), baseline))
                owners.append((s, name, t, scores))
    values = forward.run_copies(ctx.lm, requests, ctx.settings, ctx.budget)
    for v, (s, name, t, scores) in zip(values, owners):
        loo = None
        if "occlusion" in names:
            loo = faith.kendall_tau_b(scores, word_scores(s, "occlusion", t, features(s.enc, "word")))
        s.faith[(name, t)] = {
            "bins": list(faith.BINS), "baseline": baseline, **faith.metrics(v[:, t]),
            "taucorr_loo": loo, "reason": None,
        }

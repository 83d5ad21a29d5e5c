"""The forward-only phases of a batch, after the gradient passes: the perturbation methods' copies,
then (with ``faithfulness``) the comprehensiveness / sufficiency copies, each phase in one
``forward.run_copies`` call so copies of many reviews share batches."""

from __future__ import annotations

from typing import Sequence

from saliency_cli.evaluation import faithfulness as faith
from saliency_cli.engine.scores import trim_span
from saliency_cli.engine import forward
from saliency_cli.engine.assemble import Scored
from saliency_cli.engine.context import Context
from saliency_cli.engine.encoding import Encoded, features
from saliency_cli.engine.isolation import each_or_alone, row_error
from saliency_cli.methods import PerturbationMethod
from saliency_cli.records import Outcome, RowError
from saliency_cli.settings import MethodRun



def perturbation_phase(
    ctx: Context, flat: list[tuple[int, Encoded]], scored: dict[int, Scored], results: dict[int, Outcome | RowError]
) -> None:
    """Every forward-only method on every live encoding of the batch, their copies run together;
    if the model fails on them, encoding by encoding, so only the culprit's review is lost."""
    runs = [r for r in ctx.settings.methods if isinstance(r.method, PerturbationMethod)]
    live = [i for i in scored if flat[i][0] not in results]
    if not runs or not live:
        return
    _isolated(flat, live, lambda some: _perturbation_scores(ctx, [(flat[i][1], scored[i]) for i in some], runs), results)


def _perturbation_scores(ctx: Context, members: list[tuple[Encoded, Scored]], runs: list[MethodRun]) -> list:
    """Raw per-token scores of the perturbation methods: a feature's score is shared evenly by its
    tokens that show text, so a word's score (the sum of its tokens) is the method's score for that word."""
    requests, owners = [], []
    for enc, s in members:
        for run in runs:
            feats = features(enc, run.method.unit(run.params))
            key = enc.review.text[enc.offsets[feats[0][0]][0]:]  # the review, from this window's first token
            masks = run.method.masks(len(feats), run.params, key)
            requests.append(forward.Copies(enc, feats, masks, run.method.replacement(run.params) or "delete"))
            owners.append((run, s, key))
    for c, values, (run, s, key) in zip(requests, forward.run_copies(ctx.lm, requests, ctx.settings, ctx.budget), owners):
        carriers = [_visible(c.enc, positions) for positions in c.features]  # the same for every target
        for t in s.targets:
            result = run.method.attribute(c.masks, values[:, t], run.params, key)
            raw = [0.0] * c.enc.length
            for f, shown in enumerate(carriers):
                for pos in shown:
                    raw[pos] = float(result.scores[f]) / len(shown)
            s.raw[(run.method.name, t)] = raw
            if result.extra:
                s.extra[(run.method.name, t)] = dict(result.extra)
    return []


def _visible(enc: Encoded, positions: Sequence[int]) -> list[int]:
    """The positions whose span holds text once trimmed (what a word record sums); all if none does.
    A bare space-marker piece (BPE 'Ġ', unigram '▁') is replaced with its word but carries no score."""
    spans = {p: trim_span(enc.review.text, *enc.offsets[p]) for p in positions}
    shown = [p for p in positions if spans[p][1] > spans[p][0]]
    return shown or list(positions)


def faithfulness_phase(
    ctx: Context, flat: list[tuple[int, Encoded]], scored: dict[int, Scored], results: dict[int, Outcome | RowError]
) -> None:
    """ERASER comprehensiveness and sufficiency of every (method, target) of every live encoding, into
    ``Scored.faith``: all copies in one ``run_copies`` call, so the full and fully-replaced inputs (and any
    copy two methods share) run once per encoding. Windowed reviews are skipped (see README)."""
    live = [i for i in scored if flat[i][0] not in results and flat[i][1].n_windows == 1]
    if not live:
        return
    _isolated(flat, live, lambda some: _faithfulness_scores(ctx, [scored[i] for i in some]), results)


def _isolated(flat: list[tuple[int, Encoded]], live: list[int], work, results: dict[int, Outcome | RowError]) -> None:
    """``work(live)``; if the model fails on it, encoding by encoding, so only the culprit's review is lost."""
    for i, error in each_or_alone(live, work, lambda i, exc: (i, row_error(flat[i][1], exc))):
        results[flat[i][0]] = error


def word_scores(s: Scored, name: str, t: int, shown: Sequence[Sequence[int]]) -> list[float]:
    """A method's score per word: its raw per-token scores summed over the word's tokens that show text
    (``shown``, from :func:`_visible`: the sum its word record holds; a bare space-marker piece is left
    out there too)."""
    raw = s.raw[(name, t)]
    return [float(sum(raw[p] for p in positions)) for positions in shown]


def _faithfulness_scores(ctx: Context, members: list[Scored]) -> list:
    baseline = ctx.settings.faithfulness_baseline  # resolved by prepare
    names = [r.method.name for r in ctx.settings.methods]
    loo = next((r.method.name for r in ctx.settings.methods if r.method.loo_reference), None)
    requests, owners = [], []
    for s in members:
        feats = features(s.enc, "word")
        shown = [_visible(s.enc, positions) for positions in feats]
        scores = {(name, t): word_scores(s, name, t, shown) for name in names for t in s.targets}
        for (name, t), ranked in scores.items():
            requests.append(forward.Copies(s.enc, feats, faith.masks(ranked), baseline))
            tau = faith.kendall_tau_b(ranked, scores[(loo, t)]) if loo is not None else None
            owners.append((s, name, t, tau))
    values = forward.run_copies(ctx.lm, requests, ctx.settings, ctx.budget)
    for v, (s, name, t, tau) in zip(values, owners):
        s.faith[(name, t)] = {
            "bins": list(faith.BINS), "baseline": baseline, **faith.metrics(v[:, t]),
            "taucorr_loo": tau, "reason": None,
        }
    return []

"""The forward-only phases of a batch, after the gradient passes: the perturbation methods' copies,
then (with ``faithfulness``) the comprehensiveness / sufficiency copies, each phase in one
``forward.run_copies`` call so copies of many reviews share batches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from saliency_cli import faithfulness as faith
from saliency_cli.aggregate import trim_span
from saliency_cli.engine import forward
from saliency_cli.engine.assemble import ROW_FAILURES, Outcome, Scored, row_error
from saliency_cli.engine.encoding import Encoded, features
from saliency_cli.methods import PerturbationMethod
from saliency_cli.records import RowError
from saliency_cli.settings import MethodRun

if TYPE_CHECKING:
    from saliency_cli.engine.core import Context


def perturbation_phase(
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
                results[flat[i][0]] = row_error(flat[i][1], exc)


def _perturbation_scores(ctx: Context, members: list[tuple[Encoded, Scored]], runs: list[MethodRun]) -> None:
    """Raw per-token scores of the perturbation methods: a feature's score is shared evenly by its
    tokens that show text, so a word's score (the sum of its tokens) is the method's score for that word."""
    requests, owners = [], []
    for enc, s in members:
        for run in runs:
            feats = features(enc, run.params["features"])
            key = enc.review.text[enc.offsets[feats[0][0]][0]:]  # the review, from this window's first token
            masks = run.method.masks(len(feats), run.params, key)
            requests.append(forward.Copies(enc, feats, masks, run.params.get("baseline", "delete")))
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
    try:
        _faithfulness_scores(ctx, [scored[i] for i in live])
    except ROW_FAILURES:
        for i in live:
            try:
                _faithfulness_scores(ctx, [scored[i]])
            except ROW_FAILURES as exc:
                results[flat[i][0]] = row_error(flat[i][1], exc)


def word_scores(s: Scored, name: str, t: int, shown: Sequence[Sequence[int]]) -> list[float]:
    """A method's score per word: its raw per-token scores summed over the word's tokens that show text
    (``shown``, from :func:`_visible`: the sum its word record holds; a bare space-marker piece is left
    out there too)."""
    raw = s.raw[(name, t)]
    return [float(sum(raw[p] for p in positions)) for positions in shown]


def _faithfulness_scores(ctx: Context, members: list[Scored]) -> None:
    baseline = ctx.settings.faithfulness_baseline  # resolved by prepare
    names = [r.method.name for r in ctx.settings.methods]
    requests, owners = [], []
    for s in members:
        feats = features(s.enc, "word")
        shown = [_visible(s.enc, positions) for positions in feats]
        scores = {(name, t): word_scores(s, name, t, shown) for name in names for t in s.targets}
        for (name, t), ranked in scores.items():
            requests.append(forward.Copies(s.enc, feats, faith.masks(ranked), baseline))
            loo = faith.kendall_tau_b(ranked, scores[("occlusion", t)]) if "occlusion" in names else None
            owners.append((s, name, t, loo))
    values = forward.run_copies(ctx.lm, requests, ctx.settings, ctx.budget)
    for v, (s, name, t, loo) in zip(values, owners):
        s.faith[(name, t)] = {
            "bins": list(faith.BINS), "baseline": baseline, **faith.metrics(v[:, t]),
            "taucorr_loo": loo, "reason": None,
        }

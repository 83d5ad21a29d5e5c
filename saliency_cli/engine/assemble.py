"""Raw per-token scores -> Explanation records: words merged, windows of a long review stitched,
and the normalisation view applied once, at the end."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import torch

from saliency_cli.evaluation import faithfulness as faith
from saliency_cli.evaluation.plausibility import plausibility, read_rationale
from saliency_cli.engine.scores import apply_normalization, build_scores, stitch_windows, word_spans
from saliency_cli.engine.encoding import Encoded
from saliency_cli.model.loading import LoadedModel
from saliency_cli.records import Explanation, Outcome, Prediction, Target
from saliency_cli.settings import Settings

WINDOWED = "not computed for a review explained in windows (--long-text window)"


@dataclass
class Scored:
    """Everything computed for one encoding (a review, or one window of it) before records are built."""

    enc: Encoded
    probs: list[float]
    targets: list[int]
    values: torch.Tensor  # [labels] explained output F at the input, float32
    raw: dict[tuple[str, int], list[float]] = field(default_factory=dict)  # (method, target) -> per-token
    delta: dict[tuple[str, int], float] = field(default_factory=dict)
    extra: dict[tuple[str, int], Mapping[str, Any]] = field(default_factory=dict)
    params: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # method -> params when not the run's
    faith: dict[tuple[str, int], Mapping[str, Any]] = field(default_factory=dict)  # (method, target) -> faithfulness


def explanations(lm: LoadedModel, s: Scored, settings: Settings, normalization: str) -> list[Explanation]:
    """Records of one encoding in the ``normalization`` view, method by method, target by target."""
    enc, review = s.enc, s.enc.review
    predicted = max(range(len(s.probs)), key=s.probs.__getitem__)
    prediction = Prediction(lm.labels[predicted], predicted, {label: float(p) for label, p in zip(lm.labels, s.probs)})
    tokens = lm.tokenizer.convert_ids_to_tokens(enc.input_ids)
    starts = [a for a, _ in enc.offsets]
    ends = [z for _, z in enc.offsets]
    out = []
    for run in settings.methods:
        name = run.method.name
        for t in s.targets:
            tok_records, word_records = build_scores(
                review.text, tokens, s.raw[(name, t)], starts, ends, enc.special, enc.word_ids, normalization
            )
            out.append(Explanation(
                id=review.id, row=review.row, source=review.source, text=review.text, model=lm.name, method=name,
                params={**s.params.get(name, run.params), **s.extra.get((name, t), {})},
                attribute=settings.attribute, dtype=settings.dtype, normalization=normalization,
                prediction=prediction,
                target=Target(lm.labels[t], t),
                tokens=tok_records, words=word_records, truncated=enc.dropped > 0,
                dropped_tokens=enc.dropped, delta=s.delta.get((name, t)), windows=enc.n_windows,
                faithfulness=s.faith.get((name, t)), label=review.label, labelled=review.labelled,
            ))
    return out


def outcome(lm: LoadedModel, parts: Sequence[Scored], settings: Settings) -> Outcome:
    """One review's outcome from its encodings. A whole review is built in the normalisation view
    at once; the windows of a long review are built raw, stitched, then viewed."""
    first = parts[0].enc
    if len(parts) == 1:
        records = explanations(lm, parts[0], settings, settings.normalization)
    else:
        per_part = [explanations(lm, s, settings, "none") for s in parts]
        method = {r.method.name: r.method for r in settings.methods}
        words = word_spans(first.review.text, [(s.enc.offsets, s.enc.special, s.enc.word_ids) for s in parts])
        records = [apply_normalization(stitch_windows(group, method[group[0].method].window_params(
            [w.params for w in group]), words), settings.normalization) for group in zip(*per_part)]
        if settings.faithfulness:
            skip = faith.skipped(settings.faithfulness_baseline, WINDOWED)  # the rule asked for, resolved
            records = [replace(r, faithfulness=skip) for r in records]
    if first.review.rationale is not None:  # evaluate --rationale-field: no model evaluation needed
        rationale = read_rationale(first.review.rationale)
        records = [replace(r, plausibility=plausibility(r.text, r.words, rationale)) for r in records]
    return Outcome(review=first.review, explanations=records, truncated=first.dropped > 0)

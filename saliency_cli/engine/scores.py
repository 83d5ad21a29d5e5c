"""Turn per-token scores into records: merge subwords into words and apply normalisation views."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence, TypeVar

from saliency_cli.options import BY_NAME
from saliency_cli.records import Explanation, TokenScore, WordScore

Span = TypeVar("Span", TokenScore, WordScore)

NORMALIZATIONS = BY_NAME["normalize"].choices


def normalize(scores: Sequence[float], special: Sequence[bool], mode: str) -> list[float]:
    """Apply a normalisation view; the denominator ignores special tokens.

    ``none`` keeps raw signed scores; ``l1`` is |score| / sum |score| (AllenNLP's view, sums to 1
    over non-special items); ``max`` is score / max |score| (signed, within [-1, 1]).
    """
    if mode == "none":
        return [float(s) for s in scores]
    regular = [abs(s) for s, sp in zip(scores, special) if not sp]
    if mode == "l1":
        denom = sum(regular)
        return [abs(s) / denom if denom > 0 else 0.0 for s in scores]
    if mode == "max":
        denom = max(regular, default=0.0)
        return [s / denom if denom > 0 else 0.0 for s in scores]
    raise ValueError(f"unknown normalization {mode!r}; choose from {', '.join(NORMALIZATIONS)}")


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink a span so it neither starts nor ends with whitespace (some tokenizers count the space)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def merge_words(
    raw: Sequence[float],
    starts: Sequence[int],
    ends: Sequence[int],
    special: Sequence[bool],
    word_ids: Sequence[int | None],
) -> list[tuple[int, int, float]]:
    """Group consecutive non-special tokens of one tokenizer word into (start, end, summed raw score).

    Words come from the tokenizer's pre-tokenizer (``word_ids``), so ``text[start:end]`` is the word
    exactly as written. Sums keep additive methods additive (IG completeness holds per word too).
    """
    words: list[tuple[int, int, float]] = []
    current: int | None = None
    for s, st, en, sp, wid in zip(raw, starts, ends, special, word_ids):
        if sp or en <= st:
            current = None
            continue
        if wid is not None and wid == current and words:
            w_st, w_en, w_sc = words[-1]
            words[-1] = (min(w_st, st), max(w_en, en), w_sc + float(s))
        else:
            words.append((st, en, float(s)))
            current = wid
    return words


def build_scores(
    text: str,
    tokens: Sequence[str],
    raw: Sequence[float],
    starts: Sequence[int],
    ends: Sequence[int],
    special: Sequence[bool],
    word_ids: Sequence[int | None],
    normalization: str,
) -> tuple[tuple[TokenScore, ...], tuple[WordScore, ...]]:
    """Token and word records for one explanation, both in the requested normalisation view."""
    spans = [trim_span(text, st, en) if not sp else (st, en) for st, en, sp in zip(starts, ends, special)]
    starts, ends = [a for a, _ in spans], [b for _, b in spans]
    tok_scores = normalize(raw, special, normalization)
    token_records = tuple(
        TokenScore(token=t, start=int(st), end=int(en), score=float(sc), special=bool(sp))
        for t, st, en, sc, sp in zip(tokens, starts, ends, tok_scores, special)
    )
    merged = merge_words(raw, starts, ends, special, word_ids)
    word_scores = normalize([w[2] for w in merged], [False] * len(merged), normalization)
    word_records = tuple(
        WordScore(word=text[st:en], start=st, end=en, score=float(sc)) for (st, en, _), sc in zip(merged, word_scores)
    )
    return token_records, word_records


def apply_normalization(e: Explanation, mode: str) -> Explanation:
    """The explanation with raw scores replaced by the ``mode`` view (tokens and words separately)."""
    if mode == "none":
        return e
    tok = normalize([t.score for t in e.tokens], [t.special for t in e.tokens], mode)
    words = normalize([w.score for w in e.words], [False] * len(e.words), mode)
    return replace(
        e,
        normalization=mode,
        tokens=tuple(replace(t, score=s) for t, s in zip(e.tokens, tok)),
        words=tuple(replace(w, score=s) for w, s in zip(e.words, words)),
    )


def _most_central(windows: Sequence[Sequence[Span]], bounds: Sequence[tuple[int, int]]) -> list[Span]:
    """Keep each span from the window where it sits farthest from the window's edges, without overlaps."""
    candidates = []
    for spans, (lo, hi) in zip(windows, bounds):
        for sp in spans:
            centre = (sp.start + sp.end) / 2
            candidates.append((min(centre - lo, hi - centre), sp))
    kept: list[Span] = []
    for _, sp in sorted(candidates, key=lambda c: -c[0]):
        if all(sp.end <= k.start or sp.start >= k.end for k in kept):
            kept.append(sp)
    return sorted(kept, key=lambda sp: sp.start)


def word_spans(text: str, windows: Sequence[tuple[Sequence[tuple[int, int]], Sequence[bool], Sequence[int | None]]]
               ) -> list[tuple[int, int]]:
    """The span of every word of a review explained in windows, from its tokens in all of them (each
    window's offsets, special flags and word ids): a window may hold only part of a word at its edges."""
    spans: dict[int, tuple[int, int]] = {}
    for offsets, special, word_ids in windows:
        for (st, en), sp, wid in zip(offsets, special, word_ids):
            st, en = trim_span(text, st, en)
            if sp or wid is None or en <= st:
                continue
            a, b = spans.get(wid, (st, en))
            spans[wid] = (min(a, st), max(b, en))
    return sorted(spans.values())


def stitch_windows(windows: Sequence[Explanation], params: Mapping[str, Any] | None = None,
                   words: Sequence[tuple[int, int]] | None = None) -> Explanation:
    """One explanation of a long review from the explanations of its overlapping windows (raw scores).

    Each token and word takes its score from the window in which it is most central (most context
    on both sides); special tokens of the windows are dropped. With the review's ``words``
    (:func:`word_spans`), only a window that holds a word whole gives its score; a word no window
    holds whole (longer than the overlap) gets the sum of its stitched tokens. ``delta`` is the
    window delta of largest magnitude, a bound on how far any window is from completeness.
    ``params`` are the review's (the method's ``window_params``); the first window's by default.
    """
    content = [[t for t in w.tokens if not t.special and t.end > t.start] for w in windows]
    bounds = [(c[0].start, c[-1].end) if c else (0, 0) for c in content]
    deltas = [w.delta for w in windows if w.delta is not None]
    tokens = _most_central(content, bounds)
    whole = set(words) if words is not None else None
    kept = _most_central([[x for x in w.words if whole is None or (x.start, x.end) in whole] for w in windows], bounds)
    found = {(x.start, x.end) for x in kept}
    text = windows[0].text
    cut = [WordScore(text[a:b], a, b, float(sum(t.score for t in tokens if a <= t.start and t.end <= b)))
           for a, b in words or () if (a, b) not in found]
    return replace(
        windows[0],
        params=dict(windows[0].params if params is None else params),
        tokens=tuple(tokens),
        words=tuple(sorted([*kept, *cut], key=lambda x: x.start)),
        delta=max(deltas, key=abs) if deltas else None,
        windows=len(windows),
    )

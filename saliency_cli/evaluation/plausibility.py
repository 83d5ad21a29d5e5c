"""Plausibility of an explanation: how well its top words agree with the words a person marked as the
reason for the label (a rationale), as ERASER scores them (DeYoung et al. 2020). Pure functions; no
model evaluation.

A rationale is JSON text: a list of words or phrases (``["waste", "of money"]``: every whole-word,
case-insensitive occurrence in the review is marked) or a list of ``[start, end]`` character spans
(``[[6, 11]]``: ``text[6:11]``). A review word is marked when its characters overlap a marked stretch.
With k marked words: token F1 and IOU compare the method's k highest-scoring words with the marked
ones (ties: earlier word first), and AUPRC is the average precision of all the word scores against them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from saliency_cli.evaluation.faithfulness import ranking
from saliency_cli.records import WordScore

FORMS = 'a JSON list of words (["waste", "money"]) or of [start, end] character spans ([[6, 11]])'
METRICS = ("token_f1", "iou", "auprc")


@dataclass(frozen=True)
class Rationale:
    """A parsed rationale: the words or phrases marked, or the character spans marked (one of the two)."""

    words: tuple[str, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()


def parse_rationale(text: str) -> Rationale:
    """The rationale in ``text`` (see the module notes); ValueError saying what is wrong with it."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError(f"not JSON; give {FORMS}") from None
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list: {FORMS}")
    if all(isinstance(v, str) for v in value):
        words = tuple(v.strip() for v in value if v.strip())
        if not words:
            raise ValueError("the rationale's words are all empty")
        return Rationale(words=words)
    if all(isinstance(v, list) and len(v) == 2 and all(type(x) is int for x in v) for v in value):
        return Rationale(spans=tuple((int(a), int(b)) for a, b in value))
    raise ValueError(f"mixes forms or holds other values; give {FORMS}")


def marked_stretches(text: str, rationale: Rationale) -> tuple[list[tuple[int, int]], list[str]]:
    """The character stretches of ``text`` a rationale marks, and what it names that the review lacks."""
    found: list[tuple[int, int]] = []
    missing: list[str] = []
    for word in rationale.words:
        pattern = r"(?<!\w)" + re.escape(word) + r"(?!\w)"
        hits = [(m.start(), m.end()) for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
        found.extend(hits)
        if not hits:
            missing.append(word)
    for start, end in rationale.spans:
        if 0 <= start < end <= len(text):
            found.append((start, end))
        else:
            missing.append(f"[{start}, {end}]")
    return found, missing


def marked_words(words: Sequence[WordScore], stretches: Sequence[tuple[int, int]]) -> np.ndarray:
    """Boolean [words]: each word whose characters overlap a marked stretch."""
    return np.array([any(w.start < end and start < w.end for start, end in stretches) for w in words], dtype=bool)


def average_precision(scores: Sequence[float], relevant: Sequence[bool]) -> float | None:
    """Area under the precision-recall curve as average precision: sum over distinct score thresholds
    (highest first) of the recall gained times the precision there (scikit-learn's definition)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(relevant, dtype=bool)
    if not y.any():
        return None
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last word of each run of equal scores
    hits = np.cumsum(y)[last]
    precision = hits / (last + 1)
    recall_gain = np.diff(np.r_[0, hits]) / y.sum()
    return float((recall_gain * precision).sum())


def scores(words: Sequence[WordScore], marked: np.ndarray) -> dict[str, Any]:
    """Token F1, IOU and AUPRC of the word scores against the marked words (null when none is marked)."""
    k = int(marked.sum())
    if k == 0:
        return {"k": 0, "token_f1": None, "iou": None, "auprc": None}
    top = ranking([w.score for w in words])[:k]
    overlap = int(marked[top].sum())
    return {"k": k, "token_f1": overlap / k, "iou": overlap / (2 * k - overlap),
            "auprc": average_precision([w.score for w in words], marked)}


def read_rationale(text: str) -> Rationale | ValueError:
    """The parsed rationale, or the ValueError saying why it cannot be read (a row's problem, not the run's)."""
    try:
        return parse_rationale(text)
    except ValueError as exc:
        return exc


def plausibility(text: str, words: Sequence[WordScore], rationale: Rationale | ValueError) -> dict[str, Any]:
    """The plausibility object of one explanation: ``k`` (words marked), ``token_f1``, ``iou``,
    ``auprc``, ``unmatched`` (what the rationale names that the review lacks) and ``reason`` (why
    nothing could be scored, else null)."""
    if isinstance(rationale, ValueError):
        return {**scores(words, np.zeros(len(words), dtype=bool)), "unmatched": [],
                "reason": f"unreadable rationale: {rationale}"}
    stretches, missing = marked_stretches(text, rationale)
    out = {**scores(words, marked_words(words, stretches)), "unmatched": missing, "reason": None}
    if out["k"] == 0:
        out["reason"] = "the rationale marks no word of the review"
    return out

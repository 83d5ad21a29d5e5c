"""What a word or token level highlight covers: the one place the HTML report and the terminal
preview take their scored stretches of a review from."""

from __future__ import annotations

from typing import NamedTuple

from saliency_cli.records import Explanation


class Span(NamedTuple):
    """A scored stretch ``text[start:end]`` of a review; ``label`` is the word or the token string."""

    start: int
    end: int
    score: float
    label: str


def spans(exp: Explanation, level: str) -> list[Span]:
    """The words (``level="word"``) or non-special, non-empty tokens of ``exp``, by position."""
    if level == "word":
        items = [Span(w.start, w.end, w.score, w.word) for w in exp.words]
    else:
        items = [Span(t.start, t.end, t.score, t.token) for t in exp.tokens if not t.special and t.end > t.start]
    items.sort(key=lambda it: (it.start, it.end))
    return items

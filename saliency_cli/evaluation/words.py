"""The words of one explanation as the corpus summary counts them, and the bits of text it keeps.

A word is case-folded (``str.casefold``: "Great", "GREAT" and "great" are one word); a word without a
letter or digit (punctuation) is left out unless kept; the scores of a word's occurrences in one
review are summed, so each review counts once per word. Pure functions; no I/O.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple, Sequence

from saliency_cli.records import WordScore

CONTEXT = 50  # characters of context each side of a word in a snippet
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")  # \w less the underscore: what str.isalnum accepts
EXAMPLE_CHARS = 400  # characters of a review kept as an example


def is_word(text: str) -> bool:
    """Whether ``text`` holds a letter or a digit (in any script)."""
    return _LETTER_OR_DIGIT.search(text) is not None


def review_words(words: Sequence[WordScore], keep_punctuation: bool = False) -> dict[str, tuple[float, int]]:
    """Folded word -> (summed score, index of its strongest occurrence), in order of first occurrence; a
    word whose sum is not finite (a NaN or infinite score) is left out."""
    out: dict[str, tuple[float, int]] = {}
    for i, w in enumerate(words):
        if not keep_punctuation and _LETTER_OR_DIGIT.search(w.word) is None:
            continue
        key = w.word.casefold()
        found = out.get(key)
        if found is None:
            out[key] = (w.score, i)
        else:
            total, at = found
            out[key] = (total + w.score, i if abs(w.score) > abs(words[at].score) else at)
    return {k: v for k, v in out.items() if math.isfinite(v[0])}


def ranked(sums: dict[str, tuple[float, int]], k: int) -> tuple[set[str], set[str]]:
    """The ``k`` words with the highest summed scores and the ``k`` with the lowest (ties: the word
    that occurs first wins)."""
    order = list(sums)
    top = sorted(order, key=lambda w: -sums[w][0])[:k]
    bottom = sorted(order, key=lambda w: sums[w][0])[:k]
    return set(top), set(bottom)


class Snippet(NamedTuple):
    """A stretch of a review around one word: ``text[start:end]`` is the word, ``score`` its score in
    that review and ``scale`` the review's largest |score| (its colour scale); ``cut_left`` /
    ``cut_right`` say whether the review goes on beyond the stretch."""

    id: str
    text: str
    start: int
    end: int
    score: float
    scale: float
    cut_left: bool
    cut_right: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "start": self.start, "end": self.end, "score": self.score,
                "scale": self.scale, "cut_left": self.cut_left, "cut_right": self.cut_right}


def snippet(review_id: str, text: str, word: WordScore, scale: float, context: int = CONTEXT) -> Snippet:
    """The keyword-in-context stretch of ``text`` around ``word`` (whole words at its edges when it can)."""
    lo, hi = max(0, word.start - context), min(len(text), word.end + context)
    if lo > 0 and " " in text[lo:word.start]:
        lo = text.index(" ", lo) + 1
    if hi < len(text) and " " in text[word.end:hi]:
        hi = text.rindex(" ", word.end, hi)
    return Snippet(review_id, text[lo:hi], word.start - lo, word.end - lo, word.score, scale, lo > 0, hi < len(text))


class Example(NamedTuple):
    """A review shown in the confusion view: its id, the explained label's probability, the first
    ``EXAMPLE_CHARS`` characters of its text with the words there and their scores."""

    id: str
    probability: float
    text: str
    words: tuple[tuple[int, int, float], ...]
    scale: float
    cut: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "probability": self.probability, "text": self.text,
                "words": [list(w) for w in self.words], "scale": self.scale, "cut": self.cut}


def example(review_id: str, probability: float, text: str, words: Sequence[WordScore], scale: float) -> Example:
    """An example review, cut at ``EXAMPLE_CHARS`` characters."""
    kept = tuple((w.start, w.end, w.score) for w in words if w.end <= EXAMPLE_CHARS)
    return Example(review_id, probability, text[:EXAMPLE_CHARS], kept, scale, len(text) > EXAMPLE_CHARS)

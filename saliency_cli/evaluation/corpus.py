"""What drives a model across a whole file: the corpus tally behind ``saliency-cli summarize`` and
``explain --summary``.

Explanations stream in review by review. Per group (method, target label) and word (see
``evaluation.words``): how many of the group's reviews hold it, the mean of its per-review scores
with a 95 % Student t interval, how often it is among a review's ``top_k`` highest (``top_share``)
and lowest (``bottom_share``) words, and, for the page, keyword-in-context snippets of the reviews
where it weighed most. With gold labels, the confusion view (``evaluation.confusion``).

Memory grows with the vocabulary (a few numbers per group and word, at most ``snippets`` snippets
each), not with the rows. Sums are exact (``evaluation.moments``) and snippets are chosen by key,
so tallies of parts merge into the same numbers as one pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Any, Iterable, Sequence

from saliency_cli.evaluation.best import Best
from saliency_cli.evaluation.confusion import ConfusionTally, label_order
from saliency_cli.evaluation.moments import INTERVAL, Moments
from saliency_cli.evaluation.words import Snippet, ranked, review_words, snippet
from saliency_cli.records import Explanation, Outcome, RowError

SCHEMA = 1


@dataclass(frozen=True)
class CorpusOptions:
    """What the summary counts and keeps: ``min_count`` reviews for a word to be listed, a review's
    ``top_k`` words for the shares, punctuation kept or not, snippets per word (0: none, no page),
    examples per confusion cell and method, and the driving words listed per cell (``top``)."""

    min_count: int = 5
    top_k: int = 5
    keep_punctuation: bool = False
    snippets: int = 0
    examples: int = 3
    top: int = 10


class MixedRunsError(ValueError):
    """Records of different runs (model, explained output or normalisation) met in one summary."""


class WordStat:
    """One word of one group: its per-review scores' moments, top-k and bottom-k counts, snippets."""

    __slots__ = ("moments", "top", "bottom", "snippets")

    def __init__(self, snippets: int) -> None:
        self.moments = Moments()
        self.top = self.bottom = 0
        self.snippets: Best[Snippet] | None = Best(snippets) if snippets else None  # only for the page

    def merge(self, other: "WordStat") -> None:
        self.moments.merge(other.moments)
        self.top += other.top
        self.bottom += other.bottom
        if self.snippets is not None and other.snippets is not None:
            self.snippets.merge(other.snippets)


class Group:
    """The explanations of one (method, target label): how many, and their words."""

    __slots__ = ("reviews", "negative", "words")

    def __init__(self) -> None:
        self.reviews = 0
        self.negative = False  # whether any per-review word score is below zero (a signed view)
        self.words: dict[str, WordStat] = {}


def identity(e: Explanation) -> tuple[str, str, str] | None:
    """What must be the same in every record of a summary: model, explained output, normalisation
    (None for a record read from CSV, which holds none of them)."""
    return None if e.model == "" and e.params.get("source") == "csv" else (e.model, e.attribute, e.normalization)


def _describe(ident: tuple[str, str, str] | None) -> str:
    if ident is None:
        return "CSV rows (CSV records no model, so they cannot be checked against the others)"
    return f"rows of model {ident[0]!r} ({ident[1]}, normalization {ident[2]})"


class CorpusTally:
    """The corpus summary's tally, and a sink (``add`` / ``finish``) beside the writers of a run."""

    def __init__(self, options: CorpusOptions = CorpusOptions()) -> None:
        self.options = options
        self.groups: dict[tuple[str, str], Group] = {}
        self.confusion = ConfusionTally(options.examples, options.keep_punctuation)
        self.reviews = self.records = self.failed = 0
        self.identity: tuple[str, str, str] | None = None
        self.identified = False

    def add(self, result: Outcome | RowError) -> None:
        """The sink side: a finished review's explanations; failed rows are counted."""
        if isinstance(result, RowError):
            self.failed += 1
        elif result.explanations:
            self.add_review(result.explanations)

    def finish(self, ending: str) -> None:
        """Nothing to close: the summary is made from the tally afterwards."""

    def feed(self, explanations: Iterable[Explanation | RowError]) -> None:
        """Saved records in file order: consecutive explanations of one review (same id and row) are one
        review; row errors recorded by the run are counted as failed rows."""
        for key, group in groupby(explanations, key=lambda e: None if isinstance(e, RowError) else (e.id, e.row)):
            if key is None:
                self.failed += sum(1 for _ in group)
            else:
                self.add_review(list(group))

    def _check(self, ident: tuple[str, str, str] | None, identified: bool = True) -> None:
        if not identified:
            return
        if not self.identified:
            self.identity, self.identified = ident, True
        elif ident != self.identity:
            raise MixedRunsError(f"{_describe(ident)} after {_describe(self.identity)}: "
                                 "summarize one run's results at a time")

    def add_review(self, explanations: Sequence[Explanation]) -> None:
        """All explanations of one review (every method and target)."""
        self._check(identity(explanations[0]))
        self.reviews += 1
        self.confusion.add_review(explanations)
        for e in explanations:
            self._check(identity(e))
            self.records += 1
            self._add(e)

    def _add(self, e: Explanation) -> None:
        group = self.groups.get((e.method, e.target.label))
        if group is None:
            group = self.groups[(e.method, e.target.label)] = Group()
        group.reviews += 1
        sums = review_words(e.words, self.options.keep_punctuation)
        top, bottom = ranked(sums, self.options.top_k)
        scale = max((abs(w.score) for w in e.words), default=0.0)
        keep = self.options.snippets
        for word, (total, at) in sums.items():
            stat = group.words.get(word)
            if stat is None:
                stat = group.words[word] = WordStat(keep)
            stat.moments.add(total)
            stat.top += word in top
            stat.bottom += word in bottom
            group.negative = group.negative or total < 0
            if stat.snippets is not None:
                key = (-abs(total), e.id, at)
                if stat.snippets.wants(key):
                    stat.snippets.add(key, lambda at=at: snippet(e.id, e.text, e.words[at], scale))

    def merge(self, other: "CorpusTally") -> None:
        """Add another tally (another file, a Ray part, the rows a resumed run had written)."""
        self._check(other.identity, other.identified)
        self.reviews += other.reviews
        self.records += other.records
        self.failed += other.failed
        for key, theirs in other.groups.items():
            group = self.groups.setdefault(key, Group())
            group.reviews += theirs.reviews
            group.negative = group.negative or theirs.negative
            for word, stat in theirs.words.items():
                group.words.setdefault(word, WordStat(self.options.snippets)).merge(stat)
        self.confusion.merge(other.confusion)

    def summary(self, with_snippets: bool = False) -> dict[str, Any]:
        """The summary (README, "What drives the model across a file"); ``with_snippets`` adds each
        word's snippets (for the page)."""
        o = self.options
        methods = list(dict.fromkeys(m for m, _ in self.groups))
        order = sorted(self.groups, key=lambda k: (methods.index(k[0]), label_order(k[1])))
        model, attribute, normalization = self.identity or (None, None, None)
        out: dict[str, Any] = {
            "schema": SCHEMA, "model": model, "attribute": attribute, "normalization": normalization,
            "reviews": self.reviews, "records": self.records, "failed_rows": self.failed,
            "min_count": o.min_count, "top_k": o.top_k, "keep_punctuation": o.keep_punctuation,
            "interval": INTERVAL,
            "groups": [_group(method, target, self.groups[(method, target)], o.min_count, with_snippets)
                       for method, target in order],
        }
        confusion = self.confusion.summary(o.top)
        if confusion is not None:
            out["confusion"] = confusion
        return out


def _group(method: str, target: str, group: Group, min_count: int, with_snippets: bool) -> dict[str, Any]:
    """One group of the summary: every word in at least ``min_count`` reviews, highest mean first."""
    words = []
    for word, stat in group.words.items():
        m = stat.moments
        if m.n < min_count:
            continue
        entry = {"word": word, "reviews": m.n, "mean": m.mean(), "ci": m.interval(),
                 "top_share": stat.top / m.n, "bottom_share": stat.bottom / m.n}
        entry["ci"] = list(entry["ci"]) if entry["ci"] is not None else None
        if with_snippets:
            entry["snippets"] = [s.to_dict() for s in stat.snippets.items()] if stat.snippets is not None else []
        words.append(entry)
    words.sort(key=lambda w: (-w["mean"], w["word"]))
    return {"method": method, "target": target, "reviews": group.reviews, "signed": group.negative, "words": words}

"""Where the model disagrees with the user's own labels, and what drove those predictions: the
confusion part of the corpus tally.

Reviews are counted by (gold label, predicted label). For each cell off the diagonal and each method,
the words of the explanations of the predicted label are tallied (per-review sums, as in the groups),
ranked by their total score over the cell's reviews (what pushed those reviews hardest toward the
wrong label), and the most confident mistakes are kept as examples. Merges exactly, like the groups.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Sequence

from saliency_cli.evaluation.best import Best
from saliency_cli.evaluation.moments import Moments
from saliency_cli.evaluation.words import Example, example, review_words
from saliency_cli.records import Explanation


def label_order(label: str) -> tuple[list[Any], str]:
    """Natural order of labels: "2 stars" before "10 stars", digits compared as numbers."""
    return [int(t) if t.isdigit() else t.casefold() for t in re.split(r"(\d+)", label)], label


class Cell:
    """What drove the predictions of one off-diagonal cell, for one method."""

    __slots__ = ("words", "examples")

    def __init__(self, examples: int) -> None:
        self.words: dict[str, Moments] = {}
        self.examples: Best[Example] = Best(examples)

    def merge(self, other: "Cell") -> None:
        for word, m in other.words.items():
            self.words.setdefault(word, Moments()).merge(m)
        self.examples.merge(other.examples)


class ConfusionTally:
    """Reviews by (gold, predicted) label, and the cells' drivers; ``unlabelled`` counts the reviews of a
    labelled run that have no label."""

    def __init__(self, examples: int = 3, keep_punctuation: bool = False) -> None:
        self.examples, self.keep_punctuation = examples, keep_punctuation
        self.counts: Counter[tuple[str, str]] = Counter()
        self.unlabelled = 0
        self.cells: dict[tuple[str, str, str], Cell] = {}

    def add_review(self, explanations: Sequence[Explanation]) -> None:
        """One review: counted in its cell, and off the diagonal its explanations of the predicted label
        tallied by method."""
        first = explanations[0]
        if not first.labelled:
            return
        if first.label is None:
            self.unlabelled += 1
            return
        gold, predicted = first.label, first.prediction.label
        self.counts[(gold, predicted)] += 1
        if gold == predicted:
            return
        probability = float(first.prediction.probs.get(predicted, float("nan")))
        for e in explanations:
            if e.target.label != predicted:
                continue
            cell = self.cells.get((gold, predicted, e.method))
            if cell is None:
                cell = self.cells[(gold, predicted, e.method)] = Cell(self.examples)
            for word, (total, _) in review_words(e.words, self.keep_punctuation).items():
                cell.words.setdefault(word, Moments()).add(total)
            scale = max((abs(w.score) for w in e.words), default=0.0)
            cell.examples.add((-probability, e.id), lambda e=e: example(e.id, probability, e.text, e.words, scale))

    def merge(self, other: "ConfusionTally") -> None:
        self.counts.update(other.counts)
        self.unlabelled += other.unlabelled
        for key, cell in other.cells.items():
            self.cells.setdefault(key, Cell(self.examples)).merge(cell)

    def summary(self, top: int) -> dict[str, Any] | None:
        """The confusion object of the summary (None when no review has a label): the axes in natural
        order, ``counts[i][j]`` = reviews with gold ``gold[i]`` predicted ``predicted[j]``, and per
        off-diagonal cell and method the ``top`` driving words and the examples."""
        if not self.counts:
            return None
        gold = sorted({g for g, _ in self.counts}, key=label_order)
        predicted = sorted({p for _, p in self.counts}, key=label_order)
        cells = []
        for (g, p), n in sorted(self.counts.items(), key=lambda kv: (-kv[1], label_order(kv[0][0]), label_order(kv[0][1]))):
            if g == p:
                continue
            methods = {m: _drivers(cell, top) for (cg, cp, m), cell in self.cells.items() if (cg, cp) == (g, p)}
            cells.append({"gold": g, "predicted": p, "reviews": n, "methods": methods})
        return {"gold": gold, "predicted": predicted,
                "counts": [[self.counts.get((g, p), 0) for p in predicted] for g in gold],
                "unlabelled": self.unlabelled, "cells": cells}


def _drivers(cell: Cell, top: int) -> dict[str, Any]:
    """A cell's words by total score (highest first) and its examples."""
    totals = {word: (m.n, m.total(), m.mean()) for word, m in cell.words.items()}
    order = sorted(totals, key=lambda w: (-totals[w][1], w))[:top]
    return {"words": [{"word": w, "reviews": totals[w][0], "total": totals[w][1], "mean": totals[w][2]} for w in order],
            "examples": [x.to_dict() for x in cell.examples.items()]}


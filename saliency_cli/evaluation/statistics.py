"""Rank saliency methods by faithfulness on the user's own reviews: the numbers behind ``evaluate``.

A :class:`Tally` collects the faithfulness object of every explanation (review x method x target,
see :mod:`saliency_cli.evaluation.faithfulness`) as rows stream past; :func:`summarize` turns it into, per
method, the mean of each metric with a 95 % bootstrap interval, the mean rank per (review, target)
and how often each method beats each other. The unit of every statistic is one (review, target)
pair; methods are compared on the same units (paired), and one bootstrap resample of the units
serves every method and metric, so the intervals are comparable.

A method's score on a unit, for ranks and wins, is ``comprehensiveness - sufficiency``: removing
its top words should drop the explained output (high comprehensiveness) and keeping only them
should keep it (low sufficiency). Both are differences of the same output, so they add up.
"""

from __future__ import annotations

import warnings
from array import array
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from saliency_cli.records import Explanation, Outcome, RowError

FAITHFULNESS = ("comprehensiveness", "sufficiency", "normalized_comprehensiveness", "normalized_sufficiency",
                "taucorr_loo")
PLAUSIBILITY = ("token_f1", "iou", "auprc")  # against human rationales (evaluation.plausibility): no model runs
METRICS = FAITHFULNESS + PLAUSIBILITY
HIGHER_IS_BETTER = {"comprehensiveness": True, "sufficiency": False, "normalized_comprehensiveness": True,
                    "normalized_sufficiency": True, "taucorr_loo": True, "token_f1": True, "iou": True, "auprc": True}
SHOWN_NOTES = 20  # rationale problems kept to be listed
CONTROL = "random"
RESAMPLES = 1000
CAVEAT = ("These numbers compare saliency methods on one model and these reviews; "
          "they do not compare models, and another model or data set may rank the methods differently.")


def _metric_values(faith: dict[str, Any] | None, plaus: dict[str, Any] | None) -> list[float]:
    faith, plaus = faith or {}, plaus or {}
    norm = faith.get("normalized") or {}
    raw = [faith.get("comprehensiveness"), faith.get("sufficiency"), norm.get("comprehensiveness"),
           norm.get("sufficiency"), faith.get("taucorr_loo"), *(plaus.get(k) for k in PLAUSIBILITY)]
    return [np.nan if v is None else float(v) for v in raw]


@dataclass
class Tally:
    """Faithfulness metrics per (review, target) unit and method, gathered as explanations stream in."""

    methods: list[str]
    values: dict[str, array] = field(default_factory=dict)  # method -> flat [units x metrics], NaN = none
    curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # method -> summed deletion curves
    counted: Counter = field(default_factory=Counter)  # method -> units with a curve
    reasons: Counter = field(default_factory=Counter)  # why faithfulness was not computed
    plausibility_reasons: Counter = field(default_factory=Counter)  # why plausibility was not computed
    notes: list = field(default_factory=list)  # (row, id, what a rationale names that its review lacks)
    note_count: int = 0
    reviews: int = 0
    bins: list[float] | None = None
    baseline: str | None = None

    def __post_init__(self) -> None:
        for m in self.methods:
            self.values.setdefault(m, array("d"))

    @property
    def units(self) -> int:
        """(review, target) pairs added: every method has a row of metrics for each."""
        return len(self.values[self.methods[0]]) // len(METRICS) if self.methods else 0

    def add(self, result: Outcome | RowError) -> None:
        """The sink side: a finished review's explanations (failed rows are left out of the summary)."""
        if isinstance(result, Outcome):
            self.add_review(result.explanations)

    def finish(self, ending: str) -> None:
        """Nothing to close: the summary is made from the tally afterwards."""

    def add_review(self, explanations: Sequence[Explanation]) -> None:
        """Every explanation of one review (all methods and targets)."""
        by_target: dict[int, dict[str, Explanation]] = {}
        for e in explanations:
            by_target.setdefault(e.target.index, {})[e.method] = e
        if by_target:
            self.reviews += 1
        self._note(explanations)
        for found in by_target.values():
            for m in self.methods:
                e = found.get(m)
                faith = e.faithfulness if e is not None else None
                plaus = e.plausibility if e is not None else None
                self.values[m].extend(_metric_values(faith, plaus))
                if plaus and plaus.get("reason"):
                    self.plausibility_reasons[plaus["reason"]] += 1
                if not faith or faith.get("comprehensiveness") is None:
                    if faith and faith.get("reason"):
                        self.reasons[faith["reason"]] += 1
                    continue
                self.bins = self.bins or list(faith["bins"])
                self.baseline = self.baseline or faith.get("baseline")
                self._add_curve(m, faith["curve"])

    def _note(self, explanations: Sequence[Explanation]) -> None:
        """A review whose rationale names what it lacks, or cannot be read: reported once, not fatal."""
        plaus = explanations[0].plausibility if explanations else None
        if not plaus or not (plaus.get("unmatched") or (plaus.get("reason") or "").startswith("unreadable")):
            return
        self.note_count += 1
        if len(self.notes) < SHOWN_NOTES:
            what = plaus["reason"] if not plaus.get("unmatched") else (
                "rationale entries not found in the review: " + ", ".join(
                    u if u.startswith("[") else repr(u) for u in plaus["unmatched"]))
            self.notes.append((explanations[0].row, explanations[0].id, what))

    def merge(self, other: "Tally") -> None:
        """Add another tally of the same methods (e.g. the rows a resumed run had already written)."""
        for m in self.methods:
            self.values[m].extend(other.values[m])
            if m in other.curves:
                self._add_curve(m, other.curves[m], other.counted[m])
        self.reasons.update(other.reasons)
        self.plausibility_reasons.update(other.plausibility_reasons)
        self.notes = (self.notes + other.notes)[:SHOWN_NOTES]
        self.note_count += other.note_count
        self.reviews += other.reviews
        self.bins = self.bins or other.bins
        self.baseline = self.baseline or other.baseline

    def _add_curve(self, method: str, curve: dict[str, Any], count: int = 1) -> None:
        sums = self.curves.setdefault(method, {k: np.zeros(len(v)) for k, v in curve.items()})
        for k, v in curve.items():
            sums[k] += np.asarray(v, dtype=np.float64)
        self.counted[method] += count

    def matrix(self) -> np.ndarray:
        """[units, methods, metrics] with NaN where a method has no value for a unit."""
        cube = [np.frombuffer(self.values[m], dtype=np.float64).reshape(-1, len(METRICS)) for m in self.methods]
        if not cube:
            return np.zeros((self.units, 0, len(METRICS)))
        return np.stack(cube, axis=1)


def bootstrap_means(x: np.ndarray, resamples: int, seed: int, max_cells: int = 20_000_000) -> np.ndarray:
    """[resamples, columns] means of ``x`` [n, columns] over resamples of its rows (NaN ignored).

    Each resample draws n rows with replacement; the same draws serve every column (paired). Rows
    are counted per resample (``bincount``) and the means are one matrix product, so a million
    rows cost seconds.
    """
    n, cols = x.shape
    out = np.full((resamples, cols), np.nan)
    if n == 0:
        return out
    valid = ~np.isnan(x)
    filled = np.where(valid, x, 0.0)
    rng = np.random.default_rng(seed)
    step = max(1, min(resamples, max_cells // n))
    for start in range(0, resamples, step):
        k = min(step, resamples - start)
        draws = rng.integers(0, n, size=(k, n))
        weights = np.stack([np.bincount(d, minlength=n) for d in draws]).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + k] = (weights @ filled) / (weights @ valid)
    return out


def ranks(scores: np.ndarray) -> np.ndarray:
    """[units, methods] rank of each method per unit, 1 = best (highest score); ties share the mean
    rank; NaN where a method has no score (methods without one are left out of that unit's ranking)."""
    s = scores[:, :, None]
    o = scores[:, None, :]
    better = np.nansum(np.where(np.isnan(s) | np.isnan(o), 0.0, (o > s).astype(float)), axis=2)
    equal = np.nansum(np.where(np.isnan(s) | np.isnan(o), 0.0, (o == s).astype(float)), axis=2) - 1
    r = 1.0 + better + 0.5 * equal
    return np.where(np.isnan(scores), np.nan, r)


def win_rates(scores: np.ndarray) -> np.ndarray:
    """[methods, methods]: the share of units, among those both methods scored, where the row method's
    score beats the column method's (ties count half); NaN on the diagonal or without shared units."""
    m = scores.shape[1]
    out = np.full((m, m), np.nan)
    for a in range(m):
        for b in range(m):
            both = ~np.isnan(scores[:, a]) & ~np.isnan(scores[:, b])
            if a == b or not both.any():
                continue
            sa, sb = scores[both, a], scores[both, b]
            out[a, b] = float(((sa > sb) + 0.5 * (sa == sb)).mean())
    return out


def _num(x: float) -> float | None:
    return None if x is None or np.isnan(x) else float(x)


def summarize(tally: Tally, resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """The summary JSON of an evaluation (README, "Choosing a method")."""
    cube = tally.matrix()  # [units, methods, metrics]
    n_units, n_methods, n_metrics = cube.shape
    flat = cube.reshape(n_units, n_methods * n_metrics)
    with _quiet_nan():
        means = np.nanmean(flat, axis=0) if n_units else np.full(n_methods * n_metrics, np.nan)
        boot = bootstrap_means(flat, resamples, seed)
        lo, hi = np.nanpercentile(boot, 2.5, axis=0), np.nanpercentile(boot, 97.5, axis=0)
    primary = cube[:, :, 0] - cube[:, :, 1]
    rank = ranks(primary)
    wins = win_rates(primary)
    methods: dict[str, Any] = {}
    for i, m in enumerate(tally.methods):
        entry: dict[str, Any] = {}
        for j, metric in enumerate(METRICS):
            c = i * n_metrics + j
            entry[metric] = {"mean": _num(means[c]), "ci95": [_num(lo[c]), _num(hi[c])],
                             "n": int((~np.isnan(cube[:, i, j])).sum())}
        with _quiet_nan():
            entry["mean_rank"] = _num(np.nanmean(rank[:, i])) if n_units else None
        entry["wins"] = {o: _num(wins[i, k]) for k, o in enumerate(tally.methods) if k != i}
        counted = tally.counted.get(m, 0)
        entry["curve"] = {k: [float(x) for x in v / counted] for k, v in tally.curves[m].items()} if counted else None
        methods[m] = entry
    order = sorted(tally.methods, key=lambda m: (methods[m]["mean_rank"] is None, methods[m]["mean_rank"] or 0.0, m))
    return {
        "methods": methods,
        "ranking": order,
        "rows": tally.reviews,
        "units": n_units,
        "score": "comprehensiveness - sufficiency (higher is better), per (review, target)",
        "higher_is_better": dict(HIGHER_IS_BETTER),
        "bins": tally.bins,
        "baseline": tally.baseline,
        "not_scored": dict(tally.reasons),
        "plausibility_not_scored": dict(tally.plausibility_reasons),
        "rationale_problems": tally.note_count,
        "bootstrap": {"resamples": resamples, "seed": seed, "interval": "percentile, 95%"},
        "caveat": CAVEAT,
    }


@contextmanager
def _quiet_nan() -> Iterator[None]:
    """Silence numpy's 'mean of empty slice' warnings: a column without values is NaN, reported as null."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


DEFAULT_METHODS = ("gradient", "gradient-x-input", "integrated-gradients", "occlusion")


def with_control(methods: Sequence[str]) -> list[str]:
    """The methods to evaluate, the random control added last unless already named."""
    from saliency_cli.methods import get_method

    names = list(dict.fromkeys(get_method(m).name for m in methods))
    return names if CONTROL in names else [*names, CONTROL]


def tally_reviews(methods: Sequence[str], explanations: Sequence[Explanation]) -> Tally:
    """A tally of explanations listed review by review (as ``explain`` returns them)."""
    tally = Tally(list(methods))
    group: list[Explanation] = []
    for e in explanations:
        if group and (e.row, e.id) != (group[0].row, group[0].id):
            tally.add_review(group)
            group = []
        group.append(e)
    if group:
        tally.add_review(group)
    return tally

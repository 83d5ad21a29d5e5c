"""Faithfulness of an explanation (ERASER, DeYoung et al. 2020; normalised as in Carton et al. 2020).

Pure functions on numpy arrays; the engine runs the copies. For one row (review x method x target)
with word scores ``s`` and explained output F:

* words ranked by signed score, highest first (ties: earlier word first);
* per bin b: k = max(1, ceil(b * n_words)); comprehensiveness_b = F(x) - F(x without the top-k words),
  sufficiency_b = F(x) - F(x with only the top-k words); the reported values are the means over bins;
* with the null difference D = F(x) - F(every word replaced): normalised comprehensiveness
  = clip(comprehensiveness / D, 0, 1) and normalised sufficiency = clip(1 - sufficiency / D, 0, 1)
  (null when D == 0).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

BINS = (0.01, 0.05, 0.10, 0.20, 0.50)


def ranking(scores: Sequence[float]) -> np.ndarray:
    """Word indices by score, highest first; equal scores keep their order of position."""
    s = np.asarray(scores, dtype=np.float64)
    return np.lexsort((np.arange(len(s)), -s))


def top_k(n_words: int, b: float) -> int:
    return max(1, math.ceil(b * n_words - 1e-9))


def masks(scores: Sequence[float], bins: Sequence[float] = BINS) -> np.ndarray:
    """Copies to run, True = keep the word: [full, empty, comprehensiveness per bin, sufficiency per bin]."""
    n = len(scores)
    order = ranking(scores)
    rows = [np.ones(n, dtype=bool), np.zeros(n, dtype=bool)]
    comp, suff = [], []
    for b in bins:
        top = np.zeros(n, dtype=bool)
        top[order[: top_k(n, b)]] = True
        comp.append(~top)
        suff.append(top)
    return np.vstack(rows + comp + suff)


def metrics(values: Sequence[float], bins: Sequence[float] = BINS) -> dict[str, Any]:
    """The faithfulness object from F on the copies of :func:`masks` (same order)."""
    v = np.asarray(values, dtype=np.float64)
    nb = len(bins)
    full, empty = float(v[0]), float(v[1])
    comp_curve = full - v[2: 2 + nb]
    suff_curve = full - v[2 + nb: 2 + 2 * nb]
    comp, suff = float(comp_curve.mean()), float(suff_curve.mean())
    null = full - empty
    if null == 0.0:
        norm_comp = norm_suff = None
    else:
        norm_comp = float(np.clip(comp / null, 0.0, 1.0))
        norm_suff = float(np.clip(1.0 - suff / null, 0.0, 1.0))
    return {
        "comprehensiveness": comp,
        "sufficiency": suff,
        "curve": {"comprehensiveness": [float(x) for x in comp_curve], "sufficiency": [float(x) for x in suff_curve]},
        "normalized": {"comprehensiveness": norm_comp, "sufficiency": norm_suff},
        "full": full,
        "empty": empty,
    }


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b of two score lists (None when fewer than 2 items or either is constant)."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if len(a) != len(b) or len(a) < 2:
        return None
    i, j = np.triu_indices(len(a), k=1)
    da = np.sign(a[i] - a[j])
    db = np.sign(b[i] - b[j])
    s = float((da * db).sum())
    n_a = float(np.count_nonzero(da))  # pairs not tied in x
    n_b = float(np.count_nonzero(db))
    if n_a == 0 or n_b == 0:
        return None
    return s / math.sqrt(n_a * n_b)


def skipped(baseline: str, reason: str, bins: Sequence[float] = BINS) -> dict[str, Any]:
    """The object of a row faithfulness is not computed for, with the reason."""
    return {
        "bins": list(bins), "baseline": baseline, "comprehensiveness": None, "sufficiency": None,
        "curve": None, "normalized": None, "full": None, "empty": None, "taucorr_loo": None, "reason": reason,
    }

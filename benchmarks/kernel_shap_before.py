"""The KernelSHAP estimator as it was before the kriging estimator (kept for the sample-efficiency
benchmark, ``benchmarks.shapley_efficiency``, as the ``ours-before`` row).

It copies shap's KernelExplainer schedule: the full and the empty coalition; then, subset size by
subset size from the outside in, every coalition of the sizes whose share of the Shapley kernel's size
distribution covers all of them; the rest of the budget drawn at random from the remaining sizes with
that distribution, each coalition with its complement, weighted by how often it was drawn; and the
Shapley-kernel weighted regression with efficiency enforced inside the fit.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Mapping

import numpy as np

from saliency_cli.methods.base import stable_seed
from saliency_cli.methods.perturbation_family import Attribution
from saliency_cli.methods.shapley_kriging import coalition_ends, constrained_wls


class Schedule:
    """How ``samples`` is spent on ``M`` features: the shap KernelExplainer's schedule.

    ``weights[k]`` is the share of the Shapley kernel of the sizes ``k + 1`` and ``M - k - 1`` together
    (a size and its complement size form one stratum; the middle size of an even ``M`` is its own);
    the strata ``1..full`` are enumerated; ``left`` distinct coalitions remain for random draws.
    """

    def __init__(self, n_features: int, samples: int):
        m = n_features
        self.m = m
        budget = max(0, min(int(samples) - 2, 2**m - 2)) if m else 0
        self.strata = m // 2  # ceil((M - 1) / 2)
        self.paired = (m - 1) // 2  # strata with two sizes (s and M - s differ)
        weights = np.array([(m - 1.0) / (s * (m - s)) for s in range(1, self.strata + 1)])
        weights[: self.paired] *= 2
        self.weights = weights / weights.sum() if len(weights) else weights
        self.full = 0
        left = budget
        remaining = self.weights.copy()
        for s in range(1, self.strata + 1):
            count = self.size_count(s)
            if count > left + 1 or left * remaining[s - 1] / count < 1.0 - 1e-8:
                break
            self.full += 1
            left -= count
            if remaining[s - 1] < 1.0:
                remaining /= 1.0 - remaining[s - 1]
        self.left = left

    def size_count(self, s: int) -> int:
        """Coalitions in the stratum of size ``s``: those of size s, and of size M - s if it differs."""
        return math.comb(self.m, s) * (2 if s <= self.paired else 1)


class KernelShapBefore:
    """The estimator as it was: ``masks`` and ``attribute`` with the method's contract."""

    def masks(self, n_features: int, params: Mapping, key: str) -> np.ndarray:
        m = n_features
        rows = [np.ones(m, dtype=bool), np.zeros(m, dtype=bool)]
        plan = Schedule(m, int(params["samples"]))
        for s in range(1, plan.full + 1):
            for chosen in combinations(range(m), s):
                mask = np.zeros(m, dtype=bool)
                mask[list(chosen)] = True
                rows.append(mask)
                if s <= plan.paired:
                    rows.append(~mask)
        if plan.full < plan.strata and plan.left >= 2:
            rng = np.random.default_rng(stable_seed(params["seed"], key))
            p = plan.weights[plan.full:] / plan.weights[plan.full:].sum()
            sizes = rng.choice(np.arange(plan.full + 1, plan.strata + 1), size=4 * plan.left, p=p)
            seen: set[bytes] = set()
            for s in sizes:
                if plan.left - len(seen) * 2 < 2:
                    break
                mask = np.zeros(m, dtype=bool)
                mask[rng.choice(m, int(s), replace=False)] = True
                seen.add((mask if mask[0] else ~mask).tobytes())  # a pair {S, complement} counted once
                rows.append(mask)
                rows.append(~mask)
        return np.array(rows, dtype=bool).reshape(len(rows), m)

    def attribute(self, masks: np.ndarray, values: np.ndarray, params: Mapping, key: str = "") -> Attribution:
        masks = np.asarray(masks, dtype=bool)
        values = np.asarray(values, dtype=np.float64)
        m = masks.shape[1]
        if m == 0:
            return Attribution(np.zeros(0))
        sizes, empty_value, total = coalition_ends(masks, values)
        inner = (sizes > 0) & (sizes < m)
        if m == 1 or not inner.any():
            return Attribution(np.full(m, total / m))
        plan = Schedule(m, int(params["samples"]))
        z, y, size = masks[inner].astype(np.float64), values[inner] - empty_value, sizes[inner]
        stratum = np.minimum(size, m - size)
        weights = np.empty(len(z))
        enumerated = stratum <= plan.full
        for s in range(1, plan.full + 1):
            weights[stratum == s] = plan.weights[s - 1] / plan.size_count(s)
        drawn = ~enumerated
        if drawn.any():
            # each random row weighs the same: duplicates add up to their sampling frequency
            weights[drawn] = plan.weights[plan.full:].sum() / drawn.sum()
        return Attribution(constrained_wls(z, y, weights, total))

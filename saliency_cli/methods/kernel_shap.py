"""KernelSHAP: Shapley values of the features (words or tokens), estimated from the model's outputs on
coalitions of them, with a better estimator than the Shapley-kernel regression shap's KernelExplainer
uses: fewer model evaluations for the same accuracy.

A coalition keeps some features and replaces the others (the ``baseline`` rule); ``v(S)`` is the
explained output of the copy keeping ``S``. ``samples`` caps the distinct coalitions evaluated per
review (the full and the empty one included), i.e. the model evaluations a review costs.

**Estimator** (kriging, i.e. the posterior mean of a Gaussian-process prior on the game). Write the
game in the +-1 (Fourier) basis, ``v = sum_T F_T chi_T``. Shapley values depend only on the odd part of
``v`` (``phi_i = sum_{T odd, i in T} 2 F_T / |T|``), and a pair of complementary coalitions ``S``,
``N - S`` measures that odd part exactly at ``S``: ``(v(S) - v(N - S)) / 2``. The coalitions are
therefore drawn in complementary pairs (antithetic sampling; it also makes every even-degree term of
the game, pairwise interactions included, cost no error at all). The prior gives each Fourier term of
odd degree ``d`` a variance that only depends on ``d`` (features are exchangeable): a total of
``PRIOR_LINEAR`` for the linear terms, 1 for the three-way terms and ``PRIOR_DECAY`` times less per
further two degrees. The scores are the posterior mean of the Shapley values given the observed pairs
and the full-minus-empty difference, observed exactly; they are a linear function of the outputs,
like KernelSHAP's regression (which is the special case of a flat prior on the linear terms and
independent residuals weighted by the Shapley kernel), but the higher-order terms the coalitions
alias into the linear ones are modelled instead of left as noise. This is regression-adjusted
estimation (Witter, Liu & Musco, NeurIPS 2025) with a Gaussian-process model whose own Shapley values
are known in closed form. Efficiency holds exactly: the full-minus-empty difference is an
observation, and the posterior mean of the sum of the Shapley values is that observation.

**Coalitions.** Because the prior is exchangeable, the expected error of a design of coalitions can
be computed before any model call (the posterior variance does not depend on the outputs). The pairs
are picked one by one from a pool of random candidates (``POOL_SIZE`` or ``POOL_PER_PAIR`` per pair
picked, whichever is more), each the one that lowers the total posterior variance of the Shapley
values the most (sequential Bayesian experimental design; ties, to 9 digits, go to the earlier
candidate, so that other floating-point libraries pick the same pairs); the candidates' sizes are
drawn with probability proportional to the Shapley kernel's share of a size times
``sqrt(s (M - s))``, between Kernel SHAP's kernel weights and the uniform size distribution of
leverage-score sampling (Musco & Witter, 2025). No coalition is drawn twice (sampling without
replacement). The design depends on (M, samples) only and is computed once per process; each review
then gets its own random relabelling of the features, from a generator seeded by (seed, review text),
so a review gets the same coalitions, hence the same scores, alone or in any batch, and different
seeds give different coalitions.

**Large budgets.** The greedy design is used for the first ``GREEDY_PAIRS`` pairs (further pairs are
drawn at random with the same size distribution) and kriging up to ``KRIGING_PAIRS`` pairs. Beyond
that, the coalitions are stratified by size (every coalition of the outer sizes whose share of the
budget covers them, the others drawn without replacement) and the scores are the Shapley-kernel
weighted regression with efficiency enforced inside the fit, each size weighted by its kernel share
over the coalitions drawn of that size. When ``samples >= 2**M`` every coalition is evaluated and the
regression returns the exact Shapley values.
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import combinations
from typing import Mapping

import numpy as np

from saliency_cli.methods.base import Attribution, Param, ParamError, PerturbationMethod, stable_seed
from saliency_cli.methods.occlusion import BASELINE_PARAM, FEATURES_PARAM, check_perturbation_params

PRIOR_LINEAR = 20.0  # prior variance of the linear part, relative to the three-way terms'
PRIOR_DECAY = 0.3  # each further two degrees (5, 7, ...): this much less prior variance
MAX_DEGREE = 15  # odd degrees above this get no prior variance (their share is below 1e-3)
SIZE_EXPONENT = 0.5  # candidate sizes: kernel share x (s (M - s)) ** SIZE_EXPONENT
POOL_SIZE = 4096  # candidate pairs the design rule chooses from (at least)
POOL_PER_PAIR = 4  # ... and at least this many per pair it chooses
GREEDY_PAIRS = 512  # pairs chosen by the design rule; later pairs are drawn at random
KRIGING_PAIRS = 4096  # above this many pairs: stratified regression
POOL_PAIRS = 1 << 16  # strata of up to this many pairs are sampled from their list (large budgets)


# --------------------------------------------------------------------------- the prior


def symmetric_table(m: int, dmax: int) -> np.ndarray:
    """``t[a, d] = e_d(y) / C(m, d)`` for ``y`` in {+1, -1}^m with ``a`` entries +1 (``a = 0..m``,
    ``d = 0..dmax``): the elementary symmetric polynomials, from the generating function
    ``(1 + t)^a (1 - t)^(m - a)``, by its recurrence ``(d + 1) e_{d+1} = (2a - m) e_d - (m - d + 1) e_{d-1}``."""
    a = np.arange(m + 1, dtype=np.float64)
    t = np.zeros((m + 1, dmax + 1))
    t[:, 0] = 1.0
    if dmax >= 1 and m >= 1:
        t[:, 1] = (2 * a - m) / m
    for d in range(1, min(dmax, m)):
        # normalised: e_d = C(m, d) t_d, so (d + 1) C(m, d+1) t_{d+1} = (2a - m) C(m, d) t_d - (m - d + 1) C(m, d-1) t_{d-1}
        t[:, d + 1] = ((2 * a - m) * t[:, d] - d * t[:, d - 1]) / (m - d)
    return t


@lru_cache(maxsize=256)
def prior(m: int, linear: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, cross) lookup tables of the prior for ``m`` features (``linear=False``: the terms of
    degree 3 and more only, the residual of the linear part).

    ``kernel[a]``: prior covariance of the odd parts at two coalitions whose +-1 vectors agree on ``a``
    features; ``cross[b]``: prior covariance of ``phi_i`` with the odd part at a coalition that keeps
    ``i`` (``x_i = +1``; negate otherwise) and keeps ``b`` of the other features."""
    dmax = min(m, MAX_DEGREE)
    energy = {1: PRIOR_LINEAR} if linear else {}
    for d in range(3, dmax + 1, 2):
        energy[d] = PRIOR_DECAY ** ((d - 3) // 2)
    table, others = symmetric_table(m, dmax), symmetric_table(m - 1, dmax)
    kernel = np.zeros(m + 1)
    cross = np.zeros(m)
    for d, e in energy.items():
        kernel += e * table[:, d]
        # Cov(phi_i, chi_T) = 2/d for T of size d holding i: (2/d) e / C(m, d) * x_i e_{d-1}(x_{-i})
        cross += (2.0 * e / m) * others[:, d - 1]
    return kernel, cross


def _agreements(x: np.ndarray, y: np.ndarray, m: int) -> np.ndarray:
    return np.rint((x @ y.T + m) / 2).astype(np.int64)


def _cross(x: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """[m, n] prior covariance of phi with the odd part at each +-1 row of ``x``."""
    plus = (x > 0).sum(1, keepdims=True)
    return (x * cross[plus - (x > 0)]).T


def kriging(x: np.ndarray, y: np.ndarray, total: float) -> np.ndarray:
    """Posterior mean of the Shapley values given the odd part ``y[k]`` of the game at the +-1 rows
    ``x[k]`` (distinct, none the complement of another) and ``v(N) - v(empty) = total``.

    Once the rows determine the linear part (universal kriging, the linear terms as unknowns with a
    flat prior), additive games, and with the pairs any game without odd terms above degree 1, get
    their exact Shapley values; with fewer pairs, the linear terms' prior variance (``PRIOR_LINEAR``)
    keeps the fit determined."""
    m = x.shape[1]
    x = np.vstack([np.ones((1, m)), x])  # the full coalition: its odd part is total / 2
    y = np.concatenate([[total / 2.0], y])
    n = len(y)
    if n >= m and np.linalg.cond(x.T @ x) < 1e8:  # the rows determine the linear part
        kernel, cross = prior(m, linear=False)
        system = np.block([[_covariance(kernel, x, m), x], [x.T, np.zeros((m, m))]])
        sol = np.linalg.solve(system, np.concatenate([y, np.zeros(m)]))
        phi = 2.0 * sol[n:] + _cross(x, cross) @ sol[:n]
        return phi + (total - phi.sum()) / m  # rounding only (the full coalition is interpolated)
    # fewer rows than features: the linear terms' prior is centred on the equal split of total (its odd
    # part is (total / 2M) sum_i x_i), so where the rows say nothing, features are treated alike
    kernel, cross = prior(m)
    alpha = np.linalg.solve(_covariance(kernel, x, m), y - x.sum(1) * (total / (2.0 * m)))
    phi = total / m + _cross(x, cross) @ alpha
    return phi + (total - phi.sum()) / m  # rounding only (the exact posterior mean sums to total)


def _covariance(kernel: np.ndarray, x: np.ndarray, m: int) -> np.ndarray:
    """Prior covariance of the odd parts at the rows of ``x``, with room for rounding on the diagonal
    except for row 0 (the full coalition), observed exactly: the posterior mean there stays its
    observation, total / 2, so the scores sum to total."""
    k = kernel[_agreements(x, x, m)]
    k[np.diag_indices_from(k)] += 1e-10 * abs(kernel[m])
    k[0, 0] = kernel[m]
    return k


# --------------------------------------------------------------------------- coalitions


def pair_strata(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per stratum s = 1..M//2 (sizes s and M - s together): the number of complementary pairs, the
    stratum's share of the Shapley kernel, and the candidate size distribution."""
    s = np.arange(1, m // 2 + 1)
    pairs = np.array([math.comb(m, k) // (2 if 2 * k == m else 1) for k in s], dtype=np.float64)
    share = np.where(2 * s == m, 1.0, 2.0) / (s * (m - s))  # (M - 1) / (s (M - s)) per size, constant dropped
    share = share / share.sum()
    draw = share * (s * (m - s)) ** SIZE_EXPONENT
    return pairs, share, draw / draw.sum()


def _representative(mask: np.ndarray) -> np.ndarray:
    """One coalition of a complementary pair: the smaller one (for equal sizes, the one keeping feature 0)."""
    m = len(mask)
    size = int(mask.sum())
    return ~mask if size > m - size or (2 * size == m and not mask[0]) else mask


def _representatives(rows: np.ndarray) -> np.ndarray:
    """``_representative`` of every row."""
    m = rows.shape[1]
    size = rows.sum(1)
    flip = (2 * size > m) | ((2 * size == m) & ~rows[:, 0])
    return np.where(flip[:, None], ~rows, rows)


def candidate_pool(m: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """About ``count`` distinct pairs (as their smaller coalitions), sizes drawn from the candidate
    distribution of ``pair_strata``; every pair when there are no more than ``count``."""
    counts, _, draw = pair_strata(m)
    if counts.sum() <= count:
        rows = every_coalition(m)[2:]
        size = rows.sum(1)
        return rows[(2 * size < m) | ((2 * size == m) & rows[:, 0])]
    rows = np.zeros((0, m), dtype=bool)
    for _ in range(8):
        sizes = rng.choice(len(draw), size=2 * count, p=draw) + 1
        keys = rng.random((2 * count, m))
        kth = np.sort(keys, axis=1)[np.arange(2 * count), sizes - 1]
        new = _representatives(keys <= kth[:, None])  # ``sizes`` features chosen at random in each row
        rows = np.unique(np.vstack([rows, new]), axis=0)
        if len(rows) >= count:
            break
    return rows[rng.permutation(len(rows))[:count]]


@lru_cache(maxsize=64)
def design(m: int, pairs: int) -> np.ndarray:
    """``pairs`` distinct coalitions (one of each complementary pair) for ``m`` features: the first
    ``GREEDY_PAIRS`` chosen one by one from a pool of candidates, each the one that lowers the total
    posterior variance of the Shapley values the most (their prior covariances are updated as pairs are
    chosen, as in incremental Gaussian-process regression), the rest drawn at random from the pool;
    a fixed function of (m, pairs), reused for every review of m features."""
    rng = np.random.default_rng(stable_seed("kernel-shap design", m, pairs))
    kernel, cross = prior(m)
    greedy = min(pairs, GREEDY_PAIRS)
    pool = candidate_pool(m, max(POOL_SIZE, POOL_PER_PAIR * greedy, pairs), rng)
    x = np.where(pool, 1.0, -1.0)
    plus = pool.sum(1)
    # posterior (co)variances given the full coalition: var of each candidate's odd part, its covariance with phi
    k0 = kernel[plus]
    var = kernel[m] - k0**2 / kernel[m]
    with_phi = _cross(x, cross) - np.outer(cross[m - 1] * np.ones(m), k0) / kernel[m]
    rows = np.zeros((greedy, len(pool)))  # L^-1 K(chosen, pool), one row per chosen pair
    taken = np.zeros(len(pool), dtype=bool)
    order: list[int] = []
    floor = 1e-12 * kernel[m]
    for n in range(min(greedy, len(pool))):
        gain = (with_phi**2).sum(0) / np.maximum(var, floor)
        gain[taken] = -1.0
        b = int(np.argmax(np.round(gain / max(gain.max(), floor), 9)))  # ties to 9 digits: the first
        d = np.sqrt(max(var[b], floor))
        new = (kernel[_agreements(x[b : b + 1], x, m)[0]] - k0[b] * k0 / kernel[m] - rows[:n, b] @ rows[:n]) / d
        with_phi -= np.outer(with_phi[:, b] / d, new)
        var -= new**2
        rows[n] = new
        taken[b] = True
        order.append(b)
    rest = np.flatnonzero(~taken)
    order += list(rest[: pairs - len(order)])
    return pool[np.array(order, dtype=np.int64)].reshape(len(order), m)


def stratified(m: int, pairs: int, rng: np.random.Generator) -> np.ndarray:
    """``pairs`` distinct coalitions (one per complementary pair) for large budgets: the budget is shared
    among the strata in proportion to the candidate distribution, every pair of a stratum whose share
    covers them all (water-filling), the others' pairs drawn without replacement."""
    counts, _, draw = pair_strata(m)
    share = np.zeros(len(counts))
    free = np.ones(len(counts), dtype=bool)
    left = float(pairs)
    while free.any() and left > 0:
        part = left * draw[free] / draw[free].sum()
        full = part >= counts[free]
        if not full.any():
            share[free] = part
            break
        idx = np.flatnonzero(free)[full]
        share[idx] = counts[idx]
        left -= counts[idx].sum()
        free[idx] = False
    n = np.floor(share + 1e-9).astype(np.int64)
    order = np.argsort(-(share - n), kind="stable")
    n[order[: max(0, pairs - int(n.sum()))]] += 1
    n = np.minimum(n, counts.astype(np.int64))
    rows: list[np.ndarray] = []
    for stratum, k in enumerate(n):
        s = stratum + 1
        if k == 0:
            continue
        if k == counts[stratum] or counts[stratum] <= POOL_PAIRS and k > counts[stratum] / 4:
            members = [c for c in combinations(range(m), s) if 2 * s < m or c[0] == 0]
            picked = [members[i] for i in sorted(rng.choice(len(members), int(k), replace=False))]
            for chosen in picked:
                mask = np.zeros(m, dtype=bool)
                mask[list(chosen)] = True
                rows.append(mask)
            continue
        seen: set[bytes] = set()
        while len(seen) < k:
            mask = np.zeros(m, dtype=bool)
            mask[rng.choice(m, s, replace=False)] = True
            mask = _representative(mask)
            if mask.tobytes() not in seen:
                seen.add(mask.tobytes())
                rows.append(mask)
    return np.array(rows, dtype=bool).reshape(len(rows), m)


def every_coalition(m: int) -> np.ndarray:
    """All 2**m coalitions: the full one, the empty one, then the others."""
    codes = np.arange(2**m, dtype=np.int64)
    rows = ((codes[:, None] >> np.arange(m)) & 1).astype(bool)
    return np.vstack([rows[-1:], rows[:1], rows[1:-1]])


# --------------------------------------------------------------------------- the method


class KernelShap(PerturbationMethod):
    name = "kernel-shap"
    aliases = ("shap",)
    summary = (
        "Shapley values of the words, estimated from the model's outputs on coalitions of them "
        "(signed, sums to F(x) - F(none))"
    )
    params = (
        BASELINE_PARAM,
        FEATURES_PARAM,
        Param("samples", 500,
              "coalitions per review (the empty and full ones included); >= 2^words gives exact Shapley values", int),
        Param("seed", 0, "seed of the sampled coalitions; same seed and text give the same scores", int),
    )

    def validate(self, params):
        check_perturbation_params(params)
        if int(params["samples"]) < 2:
            raise ParamError("samples", "must be at least 2 (the input itself and every feature replaced)")

    def masks(self, n_features: int, params: Mapping, key: str) -> np.ndarray:
        m, samples = n_features, int(params["samples"])
        if samples >= 2**m:
            return every_coalition(m)
        pairs = min((samples - 2) // 2, 2 ** (m - 1) - 1)
        rng = np.random.default_rng(stable_seed(params["seed"], key))
        if pairs <= KRIGING_PAIRS:
            chosen = design(m, pairs)[:, rng.permutation(m)] if pairs > 0 else np.zeros((0, m), dtype=bool)
        else:
            chosen = stratified(m, pairs, rng)
        rows = np.empty((2 + 2 * len(chosen), m), dtype=bool)
        rows[0], rows[1] = True, False
        rows[2::2], rows[3::2] = chosen, ~chosen
        return rows

    def attribute(self, masks: np.ndarray, values: np.ndarray, params: Mapping, key: str = "") -> Attribution:
        masks = np.asarray(masks, dtype=bool)
        values = np.asarray(values, dtype=np.float64)
        m = masks.shape[1]
        if m == 0:
            return Attribution(np.zeros(0))
        sizes = masks.sum(1)
        full_value = values[np.flatnonzero(sizes == m)[0]]
        empty_value = values[np.flatnonzero(sizes == 0)[0]]
        total = full_value - empty_value
        # distinct inner coalitions (a repeated copy holds no new information)
        index: dict[bytes, int] = {}
        for i in np.flatnonzero((sizes > 0) & (sizes < m)):
            index.setdefault(masks[i].tobytes(), int(i))
        if m == 1 or not index:
            return Attribution(np.full(m, total / m))
        rows = np.array(sorted(index.values()))
        paired = [(i, index.get((~masks[i]).tobytes())) for i in rows
                  if 2 * sizes[i] < m or (2 * sizes[i] == m and masks[i, 0])]
        complete = len(index) == 2**m - 2
        if not complete and 2 * len(paired) == len(rows) and len(paired) <= KRIGING_PAIRS \
                and all(j is not None for _, j in paired):
            first = np.array([i for i, _ in paired])
            second = np.array([j for _, j in paired])
            x = np.where(masks[first], 1.0, -1.0)
            return Attribution(kriging(x, (values[first] - values[second]) / 2.0, total))
        return Attribution(regression(masks[rows], values[rows] - empty_value, total))


def regression(z: np.ndarray, y: np.ndarray, total: float) -> np.ndarray:
    """The Shapley-kernel weighted regression of ``y`` (outputs minus the empty coalition's) on the
    coalitions ``z`` with efficiency enforced inside the fit, each size weighted by its kernel share
    over the coalitions of that size present: exact Shapley values when every coalition is present."""
    m = z.shape[1]
    size = z.sum(1)
    present = np.bincount(size, minlength=m + 1)
    per_size = np.array([(m - 1) / (s * (m - s)) if 0 < s < m else 0.0 for s in range(m + 1)])  # kernel x C(m, s)
    weights = per_size[size] / present[size]
    return constrained_wls(z.astype(np.float64), y, weights, total)


def constrained_wls(z: np.ndarray, y: np.ndarray, w: np.ndarray, total: float) -> np.ndarray:
    """``phi`` minimising ``sum_i w_i (y_i - z_i . phi)^2`` subject to ``sum(phi) == total``.

    Write ``phi = total / M + v`` with ``sum(v) == 0``. For such ``v``, ``z_i . v`` equals ``c_i . v`` with
    ``c_i`` the row ``z_i`` minus its mean, and the minimum-norm least-squares ``v`` of the centred rows
    lies in their span, so it sums to zero by itself: the constraint holds inside the fit (as shap's
    elimination of one variable does), not by rescaling after it. Where the coalitions do not determine
    every feature (fewer distinct pairs than features), the minimum-norm fit treats features alike.
    """
    m = z.shape[1]
    root = np.sqrt(w)
    centred = z - z.mean(1, keepdims=True)
    v = np.linalg.lstsq(root[:, None] * centred, root * (y - z.sum(1) * (total / m)), rcond=None)[0]
    return total / m + (v - v.mean())  # v.mean() is rounding only (the exact v sums to zero)

"""The coalitions ``kernel-shap`` evaluates: a design chosen before any model call to lower the
kriging estimator's posterior variance (small and medium budgets), size-stratified sampling without
replacement (large budgets), or every coalition. All in complementary pairs, one of each given here."""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import combinations

import numpy as np

from saliency_cli.methods.base import stable_seed
from saliency_cli.methods.shapley_kriging import agreements, cross_covariance, prior

SIZE_EXPONENT = 0.5  # candidate sizes: kernel share x (s (M - s)) ** SIZE_EXPONENT
POOL_SIZE = 4096  # candidate pairs the design rule chooses from (at least)
POOL_PER_PAIR = 4  # ... and at least this many per pair it chooses
GREEDY_PAIRS = 512  # pairs chosen by the design rule; later pairs are drawn at random
POOL_PAIRS = 1 << 16  # strata of up to this many pairs are sampled from their list (large budgets)
DESIGNS_KEPT = 512  # designs kept per process, one per (words, samples): a corpus of mixed lengths reuses them


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


def design(m: int, pairs: int) -> np.ndarray:
    """``greedy_design(m, pairs)``, computed once per process and kept bit-packed (8x smaller)."""
    return np.unpackbits(packed_design(m, pairs), axis=1, count=m).astype(bool)


@lru_cache(maxsize=DESIGNS_KEPT)
def packed_design(m: int, pairs: int) -> np.ndarray:
    """``greedy_design``'s rows as ``np.packbits`` bytes, read-only (shared by every caller)."""
    rows = np.packbits(greedy_design(m, pairs), axis=1)
    rows.flags.writeable = False
    return rows


def greedy_design(m: int, pairs: int) -> np.ndarray:
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
    with_phi = cross_covariance(x, cross) - np.outer(cross[m - 1] * np.ones(m), k0) / kernel[m]
    rows = np.zeros((greedy, len(pool)))  # L^-1 K(chosen, pool), one row per chosen pair
    taken = np.zeros(len(pool), dtype=bool)
    order: list[int] = []
    floor = 1e-12 * kernel[m]
    for n in range(min(greedy, len(pool))):
        gain = (with_phi**2).sum(0) / np.maximum(var, floor)
        gain[taken] = -1.0
        b = int(np.argmax(np.round(gain / max(gain.max(), floor), 9)))  # ties to 9 digits: the first
        d = np.sqrt(max(var[b], floor))
        new = (kernel[agreements(x[b : b + 1], x, m)[0]] - k0[b] * k0 / kernel[m] - rows[:n, b] @ rows[:n]) / d
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

"""The estimators behind ``kernel-shap``: the posterior mean of the Shapley values under an exchangeable
Gaussian-process prior on the game's odd Fourier terms (kriging, from complementary pairs), and the
Shapley-kernel regression with efficiency inside the fit (large budgets; exact with every coalition).
The method's docstring (``methods.kernel_shap``) explains the model and why it needs fewer evaluations."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

PRIOR_LINEAR = 20.0  # prior variance of the linear part, relative to the three-way terms'
PRIOR_DECAY = 0.3  # each further two degrees (5, 7, ...): this much less prior variance
MAX_DEGREE = 15  # odd degrees above this get no prior variance (their share is below 1e-3)


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


def agreements(x: np.ndarray, y: np.ndarray, m: int) -> np.ndarray:
    """[len(x), len(y)]: on how many features each pair of +-1 rows agrees."""
    return np.rint((x @ y.T + m) / 2).astype(np.int64)


def cross_covariance(x: np.ndarray, cross: np.ndarray) -> np.ndarray:
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
        phi = 2.0 * sol[n:] + cross_covariance(x, cross) @ sol[:n]
        return phi + (total - phi.sum()) / m  # rounding only (the full coalition is interpolated)
    # fewer rows than features: the linear terms' prior is centred on the equal split of total (its odd
    # part is (total / 2M) sum_i x_i), so where the rows say nothing, features are treated alike
    kernel, cross = prior(m)
    alpha = np.linalg.solve(_covariance(kernel, x, m), y - x.sum(1) * (total / (2.0 * m)))
    phi = total / m + cross_covariance(x, cross) @ alpha
    return phi + (total - phi.sum()) / m  # rounding only (the exact posterior mean sums to total)


def _covariance(kernel: np.ndarray, x: np.ndarray, m: int) -> np.ndarray:
    """Prior covariance of the odd parts at the rows of ``x``, with room for rounding on the diagonal
    except for row 0 (the full coalition), observed exactly: the posterior mean there stays its
    observation, total / 2, so the scores sum to total."""
    k = kernel[agreements(x, x, m)]
    k[np.diag_indices_from(k)] += 1e-10 * abs(kernel[m])
    k[0, 0] = kernel[m]
    return k


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


def coalition_ends(masks: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(coalition sizes, F(no feature kept), F(every feature kept) - F(none)) of a set of evaluated
    coalitions holding both ends: what every Shapley estimator here starts from."""
    sizes = masks.sum(1)
    full_value = values[np.flatnonzero(sizes == masks.shape[1])[0]]
    empty_value = values[np.flatnonzero(sizes == 0)[0]]
    return sizes, float(empty_value), float(full_value - empty_value)

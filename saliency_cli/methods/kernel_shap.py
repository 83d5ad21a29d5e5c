"""KernelSHAP: Shapley values of the features (words or tokens), estimated from the model's outputs on
coalitions of them, with a better estimator than the Shapley-kernel regression shap's KernelExplainer
uses: fewer model evaluations for the same accuracy.

A coalition keeps some features and replaces the others (the ``baseline`` rule); ``v(S)`` is the
explained output of the copy keeping ``S``. ``samples`` caps the distinct coalitions evaluated per
review (the full and the empty one included), i.e. the model evaluations a review costs.

**Estimator** (``shapley_kriging``: kriging, i.e. the posterior mean of a Gaussian-process prior on the game). Write the
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

**Coalitions** (``shapley_design``). Because the prior is exchangeable, the expected error of a design of coalitions can
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

**Measured** (``benchmarks/shapley_efficiency.py``: the embedded model, word features, [MASK], the
predicted label's probability; mean relative L2 error / mean Spearman against exact Shapley values,
24 reviews of 9-16 words x 3 seeds): 64 samples 0.126 / 0.948, 128: 0.071 / 0.976, 256: 0.035 /
0.990, 512: 0.016 / 0.997. shap's KernelExplainer needs 4.6x (at 64) and 4.5x (at 128) the
evaluations for the same error, Captum's KernelShap about 12x and 20x. Two reviews of 48 and 53 words
against 20,000-coalition references: 128: 0.383 / 0.868, 512: 0.170 / 0.959 (shap 3.8x / 3.8x,
Captum 11.7x / about 13.5x). **Default samples 128**: the smallest budget whose mean Spearman against exact values on
16-word reviews reaches 0.95 (0.953, mean error 0.188); raise it for long reviews (512 for Spearman
0.96 at 48-53 words).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from saliency_cli.methods.base import SEED_PARAM, Param, ParamError, stable_seed
from saliency_cli.methods.perturbation_family import (
    BASELINE_PARAM, FEATURES_PARAM, Attribution, PerturbationMethod, check_perturbation_params,
)
from saliency_cli.methods.shapley_design import design, every_coalition, stratified
from saliency_cli.methods.shapley_kriging import coalition_ends, kriging, regression

KRIGING_PAIRS = 4096  # above this many pairs: stratified regression
DEFAULT_SAMPLES = 128  # mean Spearman >= 0.95 against exact values on 16-word reviews (benchmarks/shapley_efficiency.py)


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
        Param("samples", DEFAULT_SAMPLES,
              "coalitions per review (the empty and full ones included); >= 2^words gives exact Shapley values", int),
        SEED_PARAM,
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
        sizes, empty_value, total = coalition_ends(masks, values)
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

"""The random control: scores drawn at random, so faithfulness has a floor to beat.

A method whose comprehensiveness and sufficiency are no better than random ranking's on the user's
reviews tells nothing about this model. Scores are standard normal draws, one per feature (word by
default), from a generator seeded by (seed, review text): a review gets the same scores alone or in
any batch, and the control costs no model evaluation.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from saliency_cli.methods.base import SEED_PARAM, stable_seed
from saliency_cli.methods.perturbation_family import FEATURES_PARAM, Attribution, PerturbationMethod


class RandomControl(PerturbationMethod):
    name = "random"
    aliases = ()
    summary = "seeded random scores per word: the control that faithfulness numbers must beat (no model evaluation)"
    family = "control"
    params = (
        FEATURES_PARAM,
        SEED_PARAM,
    )

    def masks(self, n_features: int, params: Mapping, key: str) -> np.ndarray:
        return np.zeros((0, n_features), dtype=bool)  # no copies: the scores need no model output

    def attribute(self, masks: np.ndarray, values: np.ndarray, params: Mapping, key: str = "") -> Attribution:
        rng = np.random.default_rng(stable_seed(params["seed"], "random", key))
        return Attribution(rng.standard_normal(masks.shape[1]))

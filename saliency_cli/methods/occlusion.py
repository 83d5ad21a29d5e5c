"""Occlusion, signed leave-one-out (Zeiler & Fergus 2014; Li et al. 2016 for text).

A feature's score is F(x) - F(x with that feature replaced): positive when removing it lowers the
explained output. Features are words by default (all sub-word tokens of a word are replaced
together) or single tokens; what a replaced feature becomes is the ``baseline`` rule.
"""

from __future__ import annotations

import numpy as np

from saliency_cli.methods.perturbation_family import BASELINE_PARAM, FEATURES_PARAM, Attribution, PerturbationMethod


class Occlusion(PerturbationMethod):
    name = "occlusion"
    aliases = ("loo",)
    summary = "F(x) minus F(x with one word replaced), for every word (signed leave-one-out)"
    loo_reference = True  # faithfulness's taucorr_loo compares every method with occlusion's words
    params = (BASELINE_PARAM, FEATURES_PARAM)

    def masks(self, n_features, params, key):
        # Row 0 keeps everything (F(x)); row 1 + i drops feature i.
        return np.vstack([np.ones((1, n_features), dtype=bool), ~np.eye(n_features, dtype=bool)])

    def attribute(self, masks, values, params, key=""):
        return Attribution(values[0] - values[1:])

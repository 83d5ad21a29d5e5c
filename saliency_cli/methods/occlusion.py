"""Occlusion, signed leave-one-out (Zeiler & Fergus 2014; Li et al. 2016 for text).

A feature's score is F(x) - F(x with that feature replaced): positive when removing it lowers the
explained output. Features are words by default (all sub-word tokens of a word are replaced
together) or single tokens; what a replaced feature becomes is the ``baseline`` rule.
"""

from __future__ import annotations

import numpy as np

from saliency_cli.methods.base import Attribution, Param, ParamError, PerturbationMethod

REPLACEMENTS = ("mask", "pad", "unk", "delete")
FEATURES = ("word", "token")


def check_perturbation_params(params) -> None:
    """The replacement rule and the feature unit shared by every perturbation method."""
    if params.get("baseline") is not None and params["baseline"] not in REPLACEMENTS:
        raise ParamError(
            "baseline", f"unknown baseline {params['baseline']!r} for perturbation methods; choose from {', '.join(REPLACEMENTS)}"
        )
    if params["features"] not in FEATURES:
        raise ParamError("features", f"unknown features {params['features']!r}; choose from {', '.join(FEATURES)}")


BASELINE_PARAM = Param(
    "baseline", None, "mask|pad|unk|delete: what a removed feature becomes (default: the mask token, else unk, else pad)"
)
FEATURES_PARAM = Param("features", "word", "word|token: the unit that is removed (all sub-words of a word together)")


class Occlusion(PerturbationMethod):
    name = "occlusion"
    aliases = ("loo",)
    summary = "F(x) minus F(x with one word replaced), for every word (signed leave-one-out)"
    params = (BASELINE_PARAM, FEATURES_PARAM)

    def validate(self, params):
        check_perturbation_params(params)

    def masks(self, n_features, params, key):
        # Row 0 keeps everything (F(x)); row 1 + i drops feature i.
        return np.vstack([np.ones((1, n_features), dtype=bool), ~np.eye(n_features, dtype=bool)])

    def attribute(self, masks, values, params, key=""):
        return Attribution(values[0] - values[1:])

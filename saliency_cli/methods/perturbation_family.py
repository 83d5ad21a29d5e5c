"""The perturbation family: model outputs on copies of a review with features removed (forward
passes only), turned into one score per feature.

``masks`` says which features (words or tokens) each copy keeps, and ``attribute`` turns the outputs
of those copies into one score per feature. The engine builds the copies' token ids, packs copies of
many reviews into batches by length, and runs them without gradients. What a removed feature becomes
(the ``baseline`` rule) and the unit removed (``features``) are declared here once, shared by every
method of the family, and resolved once by the engine against the tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from saliency_cli.methods.base import Method, Param, ParamError

REPLACEMENTS = ("mask", "pad", "unk", "delete")
FEATURES = ("word", "token")

BASELINE_PARAM = Param(
    "baseline", None, "mask|pad|unk|delete: what a removed feature becomes (default: the mask token, else unk, else pad)"
)
FEATURES_PARAM = Param("features", "word", "word|token: the unit that is removed (all sub-words of a word together)")


def check_perturbation_params(params: Mapping[str, Any]) -> None:
    """The replacement rule and the feature unit shared by every perturbation method."""
    if params.get(BASELINE_PARAM.name) is not None and params[BASELINE_PARAM.name] not in REPLACEMENTS:
        raise ParamError(BASELINE_PARAM.name, f"unknown baseline {params[BASELINE_PARAM.name]!r} for perturbation "
                         f"methods; choose from {', '.join(REPLACEMENTS)}")
    if params[FEATURES_PARAM.name] not in FEATURES:
        raise ParamError(FEATURES_PARAM.name, f"unknown features {params[FEATURES_PARAM.name]!r}; "
                         f"choose from {', '.join(FEATURES)}")


@dataclass(frozen=True)
class Attribution:
    """A perturbation method's answer for one (review, target): a score per feature, and extras for ``params``."""

    scores: np.ndarray
    extra: Mapping[str, Any] | None = None


class PerturbationMethod(Method):
    """Model outputs on perturbed copies of a review, turned into one score per feature."""

    family = "perturbation"

    def validate(self, params: Mapping[str, Any]) -> None:
        check_perturbation_params(params)

    def masks(self, n_features: int, params: Mapping[str, Any], key: str) -> np.ndarray:
        """Boolean [copies, n_features]: True keeps a feature, False replaces it. ``key`` identifies the
        review (its text), so randomised methods draw the same copies for it in any batch or run."""
        raise NotImplementedError

    def attribute(self, masks: np.ndarray, values: np.ndarray, params: Mapping[str, Any], key: str = "") -> Attribution:
        """Scores per feature from ``values[i]``, the explained output on copy ``masks[i]`` (float64);
        ``key`` is the review's key given to :meth:`masks`."""
        raise NotImplementedError

    @property
    def replaces(self) -> bool:
        """Whether the method's copies replace features (it takes the ``baseline`` rule)."""
        return BASELINE_PARAM in self.params

    def replacement(self, params: Mapping[str, Any]) -> str | None:
        """What a removed feature becomes in this run (None: not chosen yet, or no copies made)."""
        return params.get(BASELINE_PARAM.name)

    def with_replacement(self, params: Mapping[str, Any], kind: str) -> dict[str, Any]:
        """The parameters with the replacement rule resolved (recorded in the output's ``params``)."""
        return {**params, BASELINE_PARAM.name: kind}

    def unit(self, params: Mapping[str, Any]) -> str:
        """The feature unit removed: ``word`` or ``token``."""
        return params[FEATURES_PARAM.name]

"""The contracts a saliency method implements, in two families, so one engine can run them all.

* A **gradient method** explains one (review, target) item from the model's gradient at ``n``
  points built from the input embeddings (``plan`` and ``points``), reduces each point's gradient
  to one score per token (``reduce``) and sums the per-point scores with the plan's weights. The
  engine packs the points of many reviews into chunks and runs the forward and backward passes.
* A **perturbation method** (forward passes only) asks for the model's output on perturbed copies
  of a review: ``masks`` says which features (words or tokens) each copy keeps, and ``attribute``
  turns the outputs of those copies into one score per feature. The engine builds the copies'
  token ids, packs copies of many reviews into batches by length, and runs them without gradients.

Methods own their math; the engine owns batching, memory, precision and targets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch


@dataclass(frozen=True)
class Param:
    """One user-facing parameter of a method, declared once.

    ``option`` is its name in the Python API and, with ``-`` for ``_``, its CLI flag (``--option``);
    it defaults to ``name``, the key recorded in the output's ``params``.
    """

    name: str
    default: Any
    help: str
    type: type = str
    option: str = ""

    @property
    def keyword(self) -> str:
        """The API keyword (and, dashed, the CLI flag) of this parameter."""
        return self.option or self.name

    @property
    def flag(self) -> str:
        return "--" + self.keyword.replace("_", "-")


class ParamError(ValueError):
    """A method parameter has a value the method cannot use; names the parameter, not a CLI flag."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


class Method:
    """What every method has: names, a one-line summary, its parameters and their validation."""

    name: str = ""
    aliases: tuple[str, ...] = ()
    summary: str = ""
    signed: bool = True
    family: str = ""
    params: tuple[Param, ...] = ()

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters recorded in the output: defaults overridden by the user's values."""
        out = {}
        for p in self.params:
            value = given.get(p.name)
            out[p.name] = p.default if value is None else value
        self.validate(out)
        return out

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise ParamError for parameters the method cannot use."""


@dataclass(frozen=True)
class Plan:
    """What a gradient method needs for one run: per-point weights, and interpolation coefficients if any."""

    weights: tuple[float, ...]
    alphas: tuple[float, ...] | None = None
    needs_baseline: bool = False


class GradientMethod(Method):
    """Gradients at ``n`` points per item, reduced per token and summed with the plan's weights."""

    family = "gradient"
    at_input: bool = False  # one gradient at the input itself: shares the prediction's forward pass

    def plan(self, params: Mapping[str, Any]) -> Plan:
        """Points and weights for one item."""
        raise NotImplementedError

    def points(
        self,
        emb: torch.Tensor,
        base: torch.Tensor | None,
        ks: torch.Tensor,
        plan: Plan,
        params: Mapping[str, Any],
        noise_keys: list[str] | None,
        lengths: torch.Tensor,
    ) -> torch.Tensor:
        """Model inputs for the rows of a chunk: ``emb``/``base`` are [R, L, H], ``ks`` the point index per row."""
        return emb

    def reduce(self, grad: torch.Tensor, emb: torch.Tensor, base: torch.Tensor | None) -> torch.Tensor:
        """Per-token scores [R, L] from the gradients at the chunk's points (fp32)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Attribution:
    """A perturbation method's answer for one (review, target): a score per feature, and extras for ``params``."""

    scores: np.ndarray
    extra: Mapping[str, Any] | None = None


class PerturbationMethod(Method):
    """Model outputs on perturbed copies of a review, turned into one score per feature."""

    family = "perturbation"

    def masks(self, n_features: int, params: Mapping[str, Any], key: str) -> np.ndarray:
        """Boolean [copies, n_features]: True keeps a feature, False replaces it. ``key`` identifies the
        review (its text), so randomised methods draw the same copies for it in any batch or run."""
        raise NotImplementedError

    def attribute(self, masks: np.ndarray, values: np.ndarray, params: Mapping[str, Any], key: str = "") -> Attribution:
        """Scores per feature from ``values[i]``, the explained output on copy ``masks[i]`` (float64);
        ``key`` is the review's key given to :meth:`masks`."""
        raise NotImplementedError


def stable_seed(*parts: object) -> int:
    """A 63-bit seed derived from the parts, identical across runs, processes and batch layouts."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)

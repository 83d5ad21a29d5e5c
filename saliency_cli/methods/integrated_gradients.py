"""Integrated Gradients (Sundararajan et al., 2017) on the input embeddings.

Attribution = (x - x') . integral_0^1 grad F(x' + a (x - x')) da, approximated by a quadrature
rule. Gauss-Legendre is the default (as in Captum): for smooth paths it reaches a given
completeness error with far fewer steps than Riemann sums.
"""

from __future__ import annotations

import numpy as np

from typing import Sequence

from saliency_cli.methods.base import Param, ParamError
from saliency_cli.methods.gradient_family import GradientMethod, Plan

RULES = ("gauss-legendre", "riemann-trapezoid", "riemann-middle", "riemann-left", "riemann-right")
BASELINES = ("pad", "zero", "mask")


def quadrature(rule: str, steps: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Nodes in [0, 1] and weights summing to 1 for ``steps`` evaluations of the path integral."""
    if rule == "gauss-legendre":
        x, w = np.polynomial.legendre.leggauss(steps)
        return tuple(0.5 * (x + 1.0)), tuple(0.5 * w)
    if rule == "riemann-trapezoid":
        if steps < 2:
            raise ValueError("riemann-trapezoid needs at least 2 steps")
        a = np.linspace(0.0, 1.0, steps)
        w = np.full(steps, 1.0 / (steps - 1))
        w[0] = w[-1] = 0.5 / (steps - 1)
        return tuple(a), tuple(w)
    if rule == "riemann-middle":
        return tuple((np.arange(steps) + 0.5) / steps), (1.0 / steps,) * steps
    if rule == "riemann-left":
        return tuple(np.arange(steps) / steps), (1.0 / steps,) * steps
    if rule == "riemann-right":
        return tuple((np.arange(steps) + 1.0) / steps), (1.0 / steps,) * steps
    raise ValueError(f"unknown integration rule {rule!r}; choose from {', '.join(RULES)}")


class IntegratedGradients(GradientMethod):
    name = "integrated-gradients"
    aliases = ("ig",)
    summary = "path integral of gradients from a baseline to the input, times (input - baseline) (signed)"
    params = (
        Param("steps", 50, "number of points on the path (model evaluations per review and target)", int),
        Param("baseline", "pad", "pad|zero|mask: what non-special tokens become at the start of the path"),
        Param("rule", "gauss-legendre", "quadrature: " + "|".join(RULES), option="ig_rule"),
        Param("tolerance", None, "adaptive: double the steps of a review until |delta| <= tolerance x |F(x) - F(x')|",
              float, option="ig_tolerance"),
        Param("max_steps", 800, "adaptive: upper limit of steps per review", int, option="ig_max_steps"),
    )

    def validate(self, params):
        if int(params["steps"]) < 1:
            raise ParamError("steps", "must be at least 1")
        if params["baseline"] not in BASELINES:
            raise ParamError("baseline", f"unknown baseline {params['baseline']!r}; choose from {', '.join(BASELINES)}")
        try:
            quadrature(params["rule"], int(params["steps"]))
        except ValueError as exc:
            raise ParamError("rule", str(exc)) from None
        if params["tolerance"] is not None and not 0 < float(params["tolerance"]) < 1:
            raise ParamError("tolerance", "must be between 0 and 1 (a fraction of F(x) - F(baseline))")
        if params["tolerance"] is not None and int(params["max_steps"]) < int(params["steps"]):
            raise ParamError("max_steps", f"must be at least the steps ({int(params['steps'])})")

    def resolve(self, given):
        """Recorded parameters; the adaptive ones only when adaptive mode is on."""
        params = super().resolve(given)
        if params["tolerance"] is None:
            del params["tolerance"], params["max_steps"]
        return params

    def plan(self, params):
        alphas, weights = quadrature(params["rule"], int(params["steps"]))
        return Plan(weights=weights, alphas=alphas, baseline=params["baseline"])

    def points(self, emb, base, ks, plan, params, noise_keys, lengths):
        alpha = emb.new_tensor(plan.alphas)[ks].view(-1, 1, 1)
        return base + alpha * (emb - base)

    def reduce(self, grad, emb, base):
        return (grad.float() * (emb.float() - base.float())).sum(-1)

    def good_enough(self, params, raw, delta):
        """Adaptive mode: the completeness gap is within ``tolerance`` of F(x) - F(baseline)."""
        return params.get("tolerance") is None or not needs_more_steps(raw, delta, float(params["tolerance"]))

    def window_params(self, per_window):
        """Adaptive mode, a review in windows: each window's steps in ``steps_windows``, and as ``steps``
        the most any window took (every window met the tolerance with at most that many)."""
        if per_window[0].get("tolerance") is None:
            return dict(per_window[0])
        steps = [int(p["steps"]) for p in per_window]
        return {**per_window[0], "steps": max(steps), "steps_windows": steps}

    def finer(self, params):
        """Adaptive mode: twice the steps, up to ``max_steps``; None once there or when not adaptive."""
        if params.get("tolerance") is None or int(params["steps"]) >= int(params["max_steps"]):
            return None
        return {**params, "steps": min(2 * int(params["steps"]), int(params["max_steps"]))}


def needs_more_steps(raw: Sequence[float], delta: float | None, tolerance: float) -> bool:
    """Whether an IG completeness gap exceeds ``tolerance`` of F(x) - F(baseline)."""
    if delta is None:
        return False
    change = sum(float(s) for s in raw) - delta
    return abs(delta) > tolerance * abs(change)

"""Registry of saliency methods: canonical names and aliases map to one instance each.

Adding a method: one module with a ``GradientMethod`` or ``PerturbationMethod`` subclass, and
one entry in ``METHODS`` below (see docs/architecture.md).
"""

from __future__ import annotations

from saliency_cli.methods.base import Method, Param, ParamError
from saliency_cli.methods.gradient_family import GradientMethod, Plan
from saliency_cli.methods.perturbation_family import Attribution, PerturbationMethod
from saliency_cli.methods.gradient import Gradient
from saliency_cli.methods.gradient_x_input import GradientXInput
from saliency_cli.methods.integrated_gradients import IntegratedGradients
from saliency_cli.methods.kernel_shap import KernelShap
from saliency_cli.methods.lime import Lime
from saliency_cli.methods.occlusion import Occlusion
from saliency_cli.methods.random_control import RandomControl
from saliency_cli.methods.smooth_grad import SmoothGrad

METHODS: dict[str, Method] = {
    m.name: m for m in (
        Gradient(), GradientXInput(), IntegratedGradients(), SmoothGrad(), Occlusion(), KernelShap(), Lime(), RandomControl(),
    )
}
ALIASES: dict[str, str] = {alias: m.name for m in METHODS.values() for alias in m.aliases}


def get_method(name: str) -> Method:
    """Look a method up by canonical name or alias (case-insensitive, '_' accepted for '-')."""
    key = name.strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    try:
        return METHODS[key]
    except KeyError:
        known = ", ".join(f"{m.name} ({'/'.join(m.aliases)})" for m in METHODS.values())
        raise ValueError(f"unknown method {name!r}; available: {known}") from None


__all__ = [
    "ALIASES", "METHODS", "Attribution", "GradientMethod", "Method", "Param", "ParamError",
    "PerturbationMethod", "Plan", "get_method",
]

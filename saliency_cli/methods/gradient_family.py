"""The gradient family: gradients of the explained output at points built from the input embeddings.

A gradient method explains one (review, target) item from the model's gradient at ``n`` points
(``plan`` and ``points``), reduces each point's gradient to one score per token (``reduce``) and the
engine sums the per-point scores with the plan's weights. The engine packs the points of many
reviews into chunks and runs the forward and backward passes. A method may ask for a finer pass
over the reviews whose result is not good enough (``good_enough`` / ``finer``: adaptive
Integrated Gradients doubles its steps until the completeness gap is small).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from saliency_cli.methods.base import Method

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Plan:
    """What a gradient method needs for one run: per-point weights, interpolation coefficients if any,
    and the baseline rule (``pad``, ``mask``, ``zero``) when the path starts at a baseline."""

    weights: tuple[float, ...]
    alphas: tuple[float, ...] | None = None
    baseline: str | None = None


class GradientMethod(Method):
    """Gradients at ``n`` points per item, reduced per token and summed with the plan's weights."""

    family = "gradient"
    at_input: bool = False  # one gradient at the input itself: shares the prediction's forward pass

    def plan(self, params: Mapping[str, Any]) -> Plan:
        """Points and weights for one item."""
        raise NotImplementedError

    def points(
        self,
        emb: "torch.Tensor",
        base: "torch.Tensor | None",
        ks: "torch.Tensor",
        plan: Plan,
        params: Mapping[str, Any],
        noise_keys: list[str] | None,
        lengths: "torch.Tensor",
    ) -> "torch.Tensor":
        """Model inputs for the rows of a chunk: ``emb``/``base`` are [R, L, H], ``ks`` the point index per row."""
        return emb

    def reduce(self, grad: "torch.Tensor", emb: "torch.Tensor", base: "torch.Tensor | None") -> "torch.Tensor":
        """Per-token scores [R, L] from the gradients at the chunk's points (fp32)."""
        raise NotImplementedError

    def good_enough(self, params: Mapping[str, Any], raw: Sequence[float], delta: float | None) -> bool:
        """Whether one (review, target) result needs no finer pass (by default every result is final)."""
        return True

    def finer(self, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The parameters of a finer pass over the results that are not good enough, or None when
        there is none (the default: a single pass)."""
        return None

"""Gradient x input (Shrikumar et al., 2016): the signed dot product of gradient and embedding."""

from __future__ import annotations

from saliency_cli.methods.gradient_family import GradientMethod, Plan


class GradientXInput(GradientMethod):
    name = "gradient-x-input"
    aliases = ("gxi",)
    summary = "dot product of the gradient and the token embedding (signed, first-order Taylor term)"
    at_input = True

    def plan(self, params):
        return Plan(weights=(1.0,))

    def reduce(self, grad, emb, base):
        return (grad.float() * emb.float()).sum(-1)

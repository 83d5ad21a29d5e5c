"""Vanilla gradient (Simonyan et al., 2014): the L2 norm of d score / d embedding per token."""

from __future__ import annotations

from saliency_cli.methods.gradient_family import GradientMethod, Plan


class Gradient(GradientMethod):
    name = "gradient"
    aliases = ("grad",)
    summary = "L2 norm of the gradient of the target score w.r.t. each token's embedding (unsigned)"
    signed = False
    at_input = True

    def plan(self, params):
        return Plan(weights=(1.0,))

    def reduce(self, grad, emb, base):
        import torch

        return torch.linalg.vector_norm(grad.float(), dim=-1)

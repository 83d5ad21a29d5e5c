"""SmoothGrad (Smilkov et al., 2017) of gradient x input on the input embeddings.

The gradient is averaged over ``samples`` copies of the embeddings with Gaussian noise of standard
deviation ``noise * (max - min)`` of that review's embedding values (the paper's definition; it
recommends 10-20 %, we default to its lower end since embedding ranges are dominated by a few large
coordinates), then dotted with the clean embedding so the score is signed like gradient x input.
Noise is drawn from a generator seeded by (seed, review text, sample), so a review gets the same
scores alone or in any batch.
"""

from __future__ import annotations

from saliency_cli.methods.base import SEED_PARAM, Param, ParamError, stable_seed
from saliency_cli.methods.gradient_family import GradientMethod, Plan


class SmoothGrad(GradientMethod):
    name = "smooth-grad"
    aliases = ("sg",)
    summary = "gradient x input averaged over noisy copies of the embeddings (signed, denoised)"
    params = (
        Param("samples", 20, "noisy copies per review and target", int),
        Param("noise", 0.1, "noise std relative to the review's embedding range (max - min)", float),
        SEED_PARAM,
    )

    def validate(self, params):
        if int(params["samples"]) < 1:
            raise ParamError("samples", "must be at least 1")
        if float(params["noise"]) < 0:
            raise ParamError("noise", "must be non-negative")

    def plan(self, params):
        n = int(params["samples"])
        return Plan(weights=(1.0 / n,) * n)

    def points(self, emb, base, ks, plan, params, noise_keys, lengths):
        import torch

        noisy = emb.clone()
        hidden = emb.shape[-1]
        for r in range(emb.shape[0]):
            n = int(lengths[r])
            real = emb[r, :n]
            sigma = float(params["noise"]) * float(real.max() - real.min())
            gen = torch.Generator().manual_seed(stable_seed(params["seed"], noise_keys[r], int(ks[r])))
            eps = torch.randn(n, hidden, generator=gen, dtype=torch.float32)
            noisy[r, :n] += (sigma * eps).to(device=emb.device, dtype=emb.dtype)
        return noisy

    def reduce(self, grad, emb, base):
        return (grad.float() * emb.float()).sum(-1)

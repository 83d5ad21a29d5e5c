"""Integrated Gradients: quadrature rules, and agreement with Captum's implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saliency_cli.runners.local import explain_reviews
from saliency_cli.settings import make_settings
from saliency_cli.methods.integrated_gradients import RULES, quadrature
from saliency_cli.records import Review


@pytest.mark.parametrize("rule", RULES)
def test_quadrature_weights_sum_to_one_and_nodes_in_unit_interval(rule):
    alphas, weights = quadrature(rule, 7)
    assert len(alphas) == len(weights) == 7
    assert sum(weights) == pytest.approx(1.0)
    assert min(alphas) >= 0.0 and max(alphas) <= 1.0


def test_gauss_legendre_is_exact_for_polynomials():
    alphas, weights = quadrature("gauss-legendre", 5)
    # n-point Gauss-Legendre integrates polynomials up to degree 2n - 1 exactly.
    for degree in range(10):
        approx = sum(w * a**degree for a, w in zip(alphas, weights))
        assert approx == pytest.approx(1.0 / (degree + 1), rel=1e-12)


def test_unknown_rule_and_baseline_are_rejected():
    with pytest.raises(ValueError, match="unknown integration rule"):
        make_settings(["ig"], options={"ig_rule": "simpson"})
    with pytest.raises(ValueError, match="unknown baseline"):
        make_settings(["ig"], options={"baseline": "random"})


@pytest.mark.parametrize("rule,steps", [("gauss-legendre", 50), ("riemann-left", 3)])
@pytest.mark.parametrize("baseline", ["pad", "zero", "mask"])
def test_matches_captum_integrated_gradients(sharp_lm, baseline, rule, steps):
    """Scores and delta equal Captum's on the input-sensitive model, with Gauss-Legendre's 50 steps and
    with 3 left Riemann steps, whose completeness gap is far above float noise (a delta of the wrong
    sign or size is caught)."""
    captum_attr = pytest.importorskip("captum.attr")
    lm = sharp_lm
    text = "Not buying it any sooner! Other brands do a much better job"
    (e,) = explain_reviews(lm, [Review("1", text, 1)], make_settings(["ig"], options={"baseline": baseline, "steps": steps, "ig_rule": rule}))
    tok = lm.tokenizer
    enc = tok(text, return_tensors="pt", return_special_tokens_mask=True)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    special = enc["special_tokens_mask"].bool()
    emb_layer = lm.model.get_input_embeddings()
    with torch.no_grad():
        emb = emb_layer(ids)
        if baseline == "zero":
            base = torch.where(special.unsqueeze(-1), emb, torch.zeros_like(emb))
        else:
            fill = tok.pad_token_id if baseline == "pad" else tok.mask_token_id
            base = emb_layer(torch.where(special, ids, torch.full_like(ids, fill)))

    def forward(x, attention_mask):
        return torch.softmax(lm.model(inputs_embeds=x, attention_mask=attention_mask).logits, -1)

    ig = captum_attr.IntegratedGradients(forward)
    attr, delta = ig.attribute(
        emb, baselines=base, target=e.target.index, additional_forward_args=(mask,), n_steps=steps,
        method=rule.replace("-", "").replace("riemannleft", "riemann_left"), return_convergence_delta=True,
    )
    reference = attr.sum(-1)[0].detach().numpy()
    ours = np.array([t.score for t in e.tokens])
    scale = float(np.abs(reference).max())
    assert scale > 1e-2
    assert np.abs(ours - reference).max() <= 1e-4 * scale
    tol = 2e-6 + 1e-5 * scale  # two outputs' float32 noise (probabilities) and the summed scores'
    if rule == "riemann-left":
        assert abs(float(delta)) > 100 * tol
    assert e.delta == pytest.approx(float(delta), abs=tol)

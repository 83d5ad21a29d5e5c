"""Integrated Gradients: quadrature rules, and agreement with Captum's implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saliency_cli.runners.local import explain_reviews
from saliency_cli.settings import make_settings
from saliency_cli.methods.integrated_gradients import RULES, quadrature
from saliency_cli.records import Review
from tests.factories import ig_inputs


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
    emb, base, mask = ig_inputs(lm, text, baseline)

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


def test_riemann_nodes_and_weights():
    assert quadrature("riemann-left", 4) == ((0.0, 0.25, 0.5, 0.75), (0.25,) * 4)
    assert quadrature("riemann-right", 4) == ((0.25, 0.5, 0.75, 1.0), (0.25,) * 4)
    assert quadrature("riemann-middle", 4) == ((0.125, 0.375, 0.625, 0.875), (0.25,) * 4)
    assert quadrature("riemann-trapezoid", 5) == ((0.0, 0.25, 0.5, 0.75, 1.0), (0.125, 0.25, 0.25, 0.25, 0.125))
    assert quadrature("riemann-trapezoid", 2) == ((0.0, 1.0), (0.5, 0.5))
    with pytest.raises(ValueError, match="^riemann-trapezoid needs at least 2 steps$"):
        quadrature("riemann-trapezoid", 1)


@pytest.mark.parametrize("options, option, message", [
    ({"steps": 0}, "steps", "must be at least 1"),
    ({"baseline": "random"}, "baseline", "unknown baseline 'random'; choose from pad, zero, mask"),
    ({"ig_rule": "simpson"}, "ig_rule", "unknown integration rule 'simpson'; choose from gauss-legendre, "
                                        "riemann-trapezoid, riemann-middle, riemann-left, riemann-right"),
    ({"ig_rule": "riemann-trapezoid", "steps": 1}, "ig_rule", "riemann-trapezoid needs at least 2 steps"),
    ({"ig_tolerance": 0.0}, "ig_tolerance", "must be between 0 and 1 (a fraction of F(x) - F(baseline))"),
    ({"ig_tolerance": 1.0}, "ig_tolerance", "must be between 0 and 1 (a fraction of F(x) - F(baseline))"),
    ({"ig_tolerance": 0.1, "steps": 64, "ig_max_steps": 32}, "ig_max_steps", "must be at least the steps (64)"),
])
def test_each_bad_parameter_is_named_with_why(options, option, message):
    from saliency_cli.settings import SettingError

    with pytest.raises(SettingError) as info:
        make_settings(["ig"], options=options)
    assert str(info.value) == f"{option}: {message}"


def test_edges_of_valid_parameters_and_what_is_recorded():
    from saliency_cli.methods import get_method

    fixed = dict(make_settings(["ig"], options={"steps": 1}).methods[0].params)
    assert fixed == {"steps": 1, "baseline": "pad", "rule": "gauss-legendre"}  # no adaptive keys when off
    adaptive = dict(make_settings(["ig"], options={"ig_tolerance": 0.5, "steps": 8, "ig_max_steps": 8}
                                  ).methods[0].params)
    assert adaptive == {"steps": 8, "baseline": "pad", "rule": "gauss-legendre", "tolerance": 0.5, "max_steps": 8}
    assert get_method("ig").resolve({"tolerance": 0.25})["max_steps"] == 800


def test_adaptive_steps_double_up_to_the_limit_and_stop_within_tolerance():
    from saliency_cli.methods import get_method
    from saliency_cli.methods.integrated_gradients import needs_more_steps

    ig = get_method("ig")
    on = {"steps": 50, "tolerance": 0.1, "max_steps": 150}
    assert ig.finer(on) == {**on, "steps": 100}
    assert ig.finer({**on, "steps": 100}) == {**on, "steps": 150}  # capped at max_steps
    assert ig.finer({**on, "steps": 150}) is None and ig.finer({**on, "steps": 200}) is None
    assert ig.finer({"steps": 50}) is None  # not adaptive
    # scores sum to 1.1, delta 0.1: F(x) - F(x') = 1.0, so the gap is 10 % of it
    assert not needs_more_steps([0.6, 0.5], 0.1, 0.1) and needs_more_steps([0.6, 0.5], 0.1, 0.099)
    assert needs_more_steps([0.6, 0.5], -0.15, 0.1)  # |delta| counts: 0.15 > 0.1 x 1.25
    assert not needs_more_steps([0.6, 0.5], None, 0.1)
    assert not needs_more_steps([3.0], 0.2, 0.1)  # F(x) - F(x') = 2.8: a gap of 0.2 is within 10 % of it
    assert ig.good_enough({"steps": 50}, [0.6, 0.5], 5.0)  # not adaptive: any gap is accepted
    assert ig.good_enough(on, [0.6, 0.5], 0.1) and not ig.good_enough({**on, "tolerance": 0.05}, [0.6, 0.5], 0.1)


def test_windows_record_each_window_s_steps_and_the_most_as_steps():
    from saliency_cli.methods import get_method

    ig = get_method("ig")
    on = {"steps": 50, "baseline": "pad", "rule": "gauss-legendre", "tolerance": 0.1, "max_steps": 800}
    assert ig.window_params([on, {**on, "steps": 200}, {**on, "steps": 100}]) == {
        **on, "steps": 200, "steps_windows": [50, 200, 100]}
    off = {"steps": 50, "baseline": "pad", "rule": "gauss-legendre"}
    assert ig.window_params([off, {**off, "steps": 7}]) == off

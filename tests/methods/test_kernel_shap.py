"""KernelSHAP against independent references: exact Shapley values by brute-force enumeration of the
model's outputs on every coalition; efficiency, seeds and batch invariance when sampling; and the
estimator's accuracy on a small fixed game, below a bound the previous estimator (shap's schedule and
regression, ``benchmarks.kernel_shap_before``) does not meet."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from saliency_cli.cli import app
from saliency_cli.methods import get_method
from saliency_cli.methods import kernel_shap, shapley_design, shapley_kriging
from saliency_cli.methods.kernel_shap import KernelShap
from saliency_cli.runners.local import explain_reviews
from saliency_cli.inputs import texts_to_reviews
from saliency_cli.settings import SettingError, make_settings
from tests.factories import assert_batch_invariant, method_rows

SHORT = [
    "Great phone, terrible battery.",  # 6 words (punctuation marks are words)
    "unbelievably awesome xylophone",  # 3 words of several tokens each
    "Not buying it any sooner!",
    "Works as described.",
]
LONGER = [
    "Not buying it any sooner! Other brands do a much better job",
    "The screen is bright and the sound is excellent, but the battery is awful.",
    "Awful customer service; they never answered my emails.",
]
# Float32 noise of the model's outputs (padding, chunking, kernels), see test_occlusion.py; the
# regression spreads it over the words, hence a little more room than one output's noise.
TOL = {"probability": 2e-6, "logit": 1e-5}
METHOD = KernelShap()
DEFAULT_SAMPLES = next(p.default for p in KernelShap.params if p.name == "samples")


def reviews(texts):
    return texts_to_reviews(texts)


def word_positions(lm, text):
    """Token ids and the token positions of each word (the non-special tokens grouped by word id)."""
    enc = lm.tokenizer(text)
    words: dict[int, list[int]] = {}
    for pos, wid in enumerate(enc.word_ids()):
        if wid is not None:
            words.setdefault(wid, []).append(pos)
    return list(enc["input_ids"]), [words[w] for w in sorted(words)]


def model_outputs(lm, ids, attribute):
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = lm.model(input_ids=x, attention_mask=torch.ones_like(x)).logits.float()[0]
    return (torch.softmax(logits, -1) if attribute == "probability" else logits).double().numpy()


def coalition_values(lm, text, attribute, replacement):
    """F (every label) of the copy keeping each coalition of words, straight from the model (one padded batch)."""
    ids, words = word_positions(lm, text)
    coalitions = list(itertools.product((False, True), repeat=len(words)))
    copies = []
    for keep in coalitions:
        dropped = {p for w, k in zip(words, keep) if not k for p in w}
        copies.append([t for i, t in enumerate(ids) if i not in dropped] if replacement is None else [
            replacement if i in dropped else t for i, t in enumerate(ids)])
    x = torch.full((len(copies), len(ids)), lm.tokenizer.pad_token_id)
    mask = torch.zeros_like(x)
    for r, c in enumerate(copies):
        x[r, : len(c)], mask[r, : len(c)] = torch.tensor(c), 1
    with torch.no_grad():
        logits = lm.model(input_ids=x, attention_mask=mask).logits.float()
    out = (torch.softmax(logits, -1) if attribute == "probability" else logits).double().numpy()
    return dict(zip(coalitions, out)), len(words)


def shapley(values, m, target):
    """Exact Shapley values of the game ``values`` (coalition -> outputs) for label ``target``."""
    phi = np.zeros(m)
    for i in range(m):
        for keep, v in values.items():
            if keep[i]:
                continue
            size = sum(keep)
            with_i = keep[:i] + (True,) + keep[i + 1:]
            weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            phi[i] += weight * (values[with_i][target] - v[target])
    return phi


def game(m, seed):
    """A synthetic explained output on coalitions: linear terms, pairwise and one three-way interaction."""
    rng = np.random.default_rng(seed)
    linear, pairs, bias = rng.normal(size=m), np.triu(rng.normal(size=(m, m)), 1) * 0.5, rng.normal()

    def f(masks):
        z = np.asarray(masks, dtype=np.float64)
        return bias + z @ linear + np.einsum("ni,ij,nj->n", z, pairs, z) + 0.3 * z[:, :3].prod(1)

    return f


@pytest.fixture(scope="module")
def lm(sharp_lm):
    return sharp_lm


@pytest.mark.parametrize("attribute,baseline", [("probability", "mask"), ("logit", "mask"), ("logit", "delete")])
def test_exact_shapley_values_when_every_coalition_fits(lm, attribute, baseline):
    replacement = None if baseline == "delete" else lm.tokenizer.mask_token_id
    settings = make_settings(["kernel-shap"], options={"baseline": baseline}, target=["all"], attribute=attribute)
    ex = explain_reviews(lm, reviews(SHORT), settings)  # the default samples >= 2**6: every coalition
    assert len(ex) == len(SHORT) * 3
    games = {e.text: coalition_values(lm, e.text, attribute, replacement) for e in ex}
    for e in ex:
        values, m = games[e.text]
        expected = shapley(values, m, e.target.index)
        assert [w.score for w in e.words] == pytest.approx(expected, abs=TOL[attribute])
        # efficiency: the words share F(x) - F(every word replaced)
        none = values[(False,) * m][e.target.index]
        change = values[(True,) * m][e.target.index] - none
        assert sum(w.score for w in e.words) == pytest.approx(change, abs=TOL[attribute])
        assert e.method == "kernel-shap"
        assert e.params == {"baseline": baseline, "features": "word", "samples": DEFAULT_SAMPLES, "seed": 0}
    assert max(abs(w.score) for e in ex for w in e.words) > 0.02  # far from zero: the comparison means something
    # exact values: any seed, and 2**M samples are enough
    again = explain_reviews(lm, reviews(SHORT[:1]), make_settings(
        ["shap"], options={"baseline": baseline, "seed": 7, "samples": 64}, target=["all"], attribute=attribute))
    for e, first in zip(again, ex[:3]):
        assert [w.score for w in e.words] == pytest.approx([w.score for w in first.words], abs=TOL[attribute])


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 6, 9])
def test_exact_shapley_values_of_a_synthetic_game(m):
    f = game(m, m)
    masks = METHOD.masks(m, {"samples": 2**m, "seed": 0}, "key")
    assert masks.shape == (2**m, m) and len({r.tobytes() for r in masks}) == 2**m  # every coalition, once
    table = {tuple(bool(b) for b in r): np.array([v]) for r, v in zip(masks, f(masks))}
    scores = METHOD.attribute(masks, f(masks), {"samples": 2**m}).scores
    assert scores == pytest.approx(shapley(table, m, 0), abs=1e-9)


@pytest.mark.parametrize(
    "m,samples", [(4, 6), (7, 40), (9, 500), (10, 100), (16, 1024), (20, 500), (33, 500), (60, 300), (300, 100),
                  (12, 2), (12, 3), (30, 9000)])
def test_efficiency_holds_exactly_when_sampling(m, samples):
    f = game(m, 100 + m)
    masks = METHOD.masks(m, {"samples": samples, "seed": 3}, "key")
    values = f(masks)
    scores = METHOD.attribute(masks, values, {"samples": samples}).scores
    full, empty = values[masks.all(1)][0], values[~masks.any(1)][0]
    assert abs(scores.sum() - (full - empty)) < 1e-9
    assert len(np.unique(scores)) > 1 or m == 1 or samples <= 3


@pytest.mark.parametrize("m,samples", [(5, 12), (8, 40), (12, 64), (20, 100), (40, 300), (30, 9000)])
def test_additive_and_pairwise_games_are_exact_once_the_pairs_cover_the_features(m, samples):
    """With at least as many complementary pairs as features, games without odd interactions above
    degree 1 (additive ones, and any pairwise interactions on top) get their exact Shapley values."""
    rng = np.random.default_rng(m)
    linear, pairs = rng.normal(size=m), np.triu(rng.normal(size=(m, m)), 1)
    masks = METHOD.masks(m, {"samples": samples, "seed": 0}, "key")
    assert (len(masks) - 2) // 2 >= m
    z = masks.astype(np.float64)
    additive = 0.3 + z @ linear
    assert METHOD.attribute(masks, additive, {}).scores == pytest.approx(linear, abs=1e-9)
    pairwise = additive + np.einsum("ni,ij,nj->n", z, pairs, z)
    expected = linear + (pairs.sum(0) + pairs.sum(1)) / 2  # each pair's term split between its two features
    assert METHOD.attribute(masks, pairwise, {}).scores == pytest.approx(expected, abs=1e-9)


def test_an_underdetermined_fit_treats_alike_features_alike():
    m, samples = 200, 100  # 49 pairs of coalitions for 200 features
    masks = METHOD.masks(m, {"samples": samples, "seed": 0}, "key")
    same = METHOD.attribute(masks, 0.5 + 0.01 * masks.sum(1), {"samples": samples}).scores
    assert same == pytest.approx(np.full(m, 0.01), abs=1e-12)  # every feature adds 0.01: each gets 0.01
    # one feature that matters more stands out, though the fit cannot give it its whole effect
    value = 0.01 * masks.sum(1) + 0.3 * masks[:, 0]
    scores = METHOD.attribute(masks, value, {"samples": samples}).scores
    assert scores.sum() == pytest.approx(0.01 * m + 0.3, abs=1e-12)
    assert scores.argmax() == 0 and scores[0] - np.delete(scores, 0).max() > 0.02


def text_game(m, seed):
    """A classifier-like game: the first of three labels' softmax probability, with logits adding up
    each kept word's contribution and one for each pair of neighbouring words kept together."""
    rng = np.random.default_rng(seed)
    words, neighbours = rng.normal(size=(m, 3)) * 1.5, rng.normal(size=(m - 1, 3)) * 1.5

    def f(masks):
        z = np.asarray(masks, dtype=np.float64)
        logits = z @ words + (z[:, :-1] * z[:, 1:]) @ neighbours
        p = np.exp(logits - logits.max(1, keepdims=True))
        return p[:, 0] / p.sum(1)

    return f


def test_accuracy_on_a_small_fixed_game_beats_the_previous_estimator():
    """12 words, 64 coalitions (of 4096), ten seeds: the mean relative error of the scores against the
    exact Shapley values stays below 0.3 (at every seed); the previous estimator (shap's KernelExplainer
    schedule and regression) does not meet that bound."""
    from benchmarks.kernel_shap_before import KernelShapBefore

    m, samples = 12, 64
    f = text_game(m, 2)
    every = METHOD.masks(m, {"samples": 2**m, "seed": 0}, "key")
    exact = METHOD.attribute(every, f(every), {}).scores
    table = {tuple(bool(b) for b in r): np.array([v]) for r, v in zip(every, f(every))}
    assert exact == pytest.approx(shapley(table, m, 0), abs=1e-9)

    def errors(method):
        out = []
        for seed in range(10):
            params = {"samples": samples, "seed": seed}
            masks = method.masks(m, params, "a review")
            assert len({r.tobytes() for r in masks}) <= samples
            scores = method.attribute(masks, f(masks), params, "a review").scores
            out.append(np.linalg.norm(scores - exact) / np.linalg.norm(exact))
        return np.array(out)

    ours, before = errors(METHOD), errors(KernelShapBefore())
    assert ours.mean() < 0.3 and ours.max() < 0.3, ours
    assert before.mean() > 0.3, before


def test_efficiency_end_to_end_when_sampling(lm):
    settings = make_settings(["kernel-shap"], options={"samples": 60}, target=["all"], attribute="logit")
    ex = explain_reviews(lm, reviews(LONGER), settings)
    changes = []
    for e in ex:
        ids, words = word_positions(lm, e.text)
        assert 2 ** len(words) > 60  # sampled, not enumerated
        dropped = {p for w in words for p in w}
        masked = [lm.tokenizer.mask_token_id if i in dropped else t for i, t in enumerate(ids)]
        change = model_outputs(lm, ids, "logit")[e.target.index] - model_outputs(lm, masked, "logit")[e.target.index]
        assert sum(w.score for w in e.words) == pytest.approx(change, abs=1e-5)
        changes.append(abs(change))
    assert max(changes) > 0.1


@pytest.mark.parametrize("m,samples", [(20, 500), (9, 500), (16, 1000), (40, 129), (12, 80)])
def test_coalitions_are_distinct_complementary_pairs_within_the_budget(m, samples):
    masks = METHOD.masks(m, {"samples": samples, "seed": 0}, "a review")
    assert masks[0].all() and not masks[1].any()
    assert len({r.tobytes() for r in masks}) == len(masks)  # no coalition twice
    assert len(masks) == min(samples - samples % 2, 2**m) and len(masks) <= samples  # the budget is spent
    assert (masks[2::2] == ~masks[3::2]).all()  # every coalition comes with its complement, right after it
    sizes = masks[2::2].sum(1)
    assert ((sizes > 0) & (sizes < m)).all()
    # another review (or seed) gets the same design with its features relabelled
    other = METHOD.masks(m, {"samples": samples, "seed": 5}, "another review")
    assert not np.array_equal(other, masks)
    assert sorted(map(int, masks.sum(1))) == sorted(map(int, other.sum(1)))
    assert np.array_equal(np.sort(masks.sum(0)), np.sort(other.sum(0)))


def test_the_design_is_built_once_per_length_and_budget():
    """Reviews of one length share the design (computed once per process); callers get their own copy."""
    shapley_design.packed_design.cache_clear()
    firsts = [METHOD.masks(13, {"samples": 70, "seed": 0}, key) for key in ("one", "two", "three")]
    info = shapley_design.packed_design.cache_info()
    assert (info.misses, info.hits) == (1, 2)
    firsts[0][:] = False  # a caller changing its rows changes no one else's
    assert np.array_equal(METHOD.masks(13, {"samples": 70, "seed": 0}, "two"), firsts[1])
    assert METHOD.masks(13, {"samples": 70, "seed": 0}, "one")[2:].any()


def test_large_budgets_are_stratified_by_size():
    m, samples = 30, 2 * kernel_shap.KRIGING_PAIRS + 100
    masks = METHOD.masks(m, {"samples": samples, "seed": 0}, "a review")
    assert len(masks) == samples and len({r.tobytes() for r in masks}) == samples
    assert (masks[2::2] == ~masks[3::2]).all()
    sizes = np.minimum(masks[2:].sum(1), m - masks[2:].sum(1))
    assert (sizes == 1).sum() == 2 * m  # the outer sizes, whose share covers them, are all there
    assert (sizes == 2).sum() == m * (m - 1)
    assert set(np.unique(sizes)) == set(range(1, m // 2 + 1))


def test_with_enough_samples_every_coalition_once():
    for m in range(1, 9):
        masks = METHOD.masks(m, {"samples": 2**m, "seed": 0}, "k")
        assert len(masks) == 2**m and len({r.tobytes() for r in masks}) == 2**m
        assert len(METHOD.masks(m, {"samples": 2**m + 50, "seed": 0}, "k")) == 2**m
        # one short of every coalition: every pair but one
        if m > 2:
            assert len({r.tobytes() for r in METHOD.masks(m, {"samples": 2**m - 1, "seed": 0}, "k")}) == 2**m - 2


def test_a_repeated_coalition_changes_nothing():
    m, samples = 14, 120
    f = game(m, 5)
    masks = METHOD.masks(m, {"samples": samples, "seed": 1}, "k")
    scores = METHOD.attribute(masks, f(masks), {"samples": samples}).scores
    again = np.vstack([masks, masks[2:12], masks[:2]])
    assert METHOD.attribute(again, f(again), {"samples": samples}).scores == pytest.approx(scores, abs=1e-12)
    shuffled = masks[np.random.default_rng(0).permutation(len(masks))]
    assert METHOD.attribute(shuffled, f(shuffled), {"samples": samples}).scores == pytest.approx(scores, abs=1e-9)


def test_coalitions_without_their_complement_fall_back_to_the_regression():
    """The estimator reads pairs; other coalitions (not from ``masks``) still get the kernel regression,
    which is exact when every coalition is there."""
    m = 6
    f = game(m, 9)
    every = METHOD.masks(m, {"samples": 64, "seed": 0}, "k")
    exact = METHOD.attribute(every, f(every), {}).scores
    assert exact == pytest.approx(shapley_kriging.regression(every[2:], f(every[2:]) - f(every[1:2]), exact.sum()),
                                  abs=1e-9)
    odd = every[:40]  # some pairs broken
    scores = METHOD.attribute(odd, f(odd), {}).scores
    inner = odd[2:]
    assert scores == pytest.approx(shapley_kriging.regression(inner, f(inner) - f(odd[1:2]), exact.sum()), abs=1e-12)
    assert abs(scores.sum() - exact.sum()) < 1e-9


def test_seeds_repeat_exactly_and_differ_between_seeds(lm):
    def run(seed):
        settings = make_settings(["kernel-shap"], options={"samples": 100, "seed": seed}, attribute="logit")
        return [[w.score for w in e.words] for e in explain_reviews(lm, reviews(LONGER), settings)]

    first, again, other = run(0), run(0), run(1)
    assert first == again
    for a, b in zip(first, other):
        assert np.abs(np.array(a) - np.array(b)).max() > 1e-4
    assert np.array_equal(METHOD.masks(12, {"samples": 100, "seed": 0}, "text"),
                          METHOD.masks(12, {"samples": 100, "seed": 0}, "text"))
    assert not np.array_equal(METHOD.masks(12, {"samples": 100, "seed": 0}, "text"),
                              METHOD.masks(12, {"samples": 100, "seed": 0}, "other text"))


def test_a_review_alone_or_in_any_batch_gets_the_same_scores(lm):
    assert_batch_invariant(lm, "kernel-shap", LONGER + SHORT, {"samples": 80}, (1, 3, 16), TOL["probability"])


def test_parameters_are_validated_naming_the_option():
    with pytest.raises(SettingError, match="^samples: must be at least 2") as info:
        make_settings(["kernel-shap"], options={"samples": 1})
    assert info.value.option == "samples"
    with pytest.raises(SettingError, match="^baseline: "):
        make_settings(["kernel-shap"], options={"baseline": "zero"})
    assert get_method("shap") is get_method("kernel-shap") is get_method("Kernel_SHAP")
    # samples is shared with smooth-grad, each with its own default
    runs = {r.method.name: r.params for r in make_settings(["kernel-shap", "smooth-grad"]).methods}
    assert runs["kernel-shap"]["samples"] == DEFAULT_SAMPLES and runs["smooth-grad"]["samples"] == 20


def test_listed_by_the_methods_command():
    res = CliRunner().invoke(app, ["methods"])
    assert res.exit_code == 0, res.output
    rows = method_rows(res.stdout)
    assert rows.get("kernel-shap") == "shap"
    assert f"--samples ({DEFAULT_SAMPLES})" in res.stdout and "--seed (0)" in res.stdout

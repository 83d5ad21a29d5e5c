"""LIME against the ``lime`` package: its text sampler, its regression (``LimeBase``) on the same
neighbourhood, and its LimeTextExplainer end to end on the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from saliency_cli.cli import app
from saliency_cli.methods import get_method
from saliency_cli.methods.base import stable_seed
from saliency_cli.methods.lime import Lime
from saliency_cli.runners.local import explain_reviews
from saliency_cli.inputs import texts_to_reviews
from saliency_cli.settings import SettingError, make_settings
from tests.factories import assert_batch_invariant, method_rows

# Every word one token of the tiny tokenizer, no punctuation: lime's words are the model's words.
PLAIN = [
    "great phone terrible battery would not recommend it",
    "the screen is bright and the sound is excellent",
    "awful customer service they never answered my emails",
]
TEXTS = [
    "Not buying it any sooner! Other brands do a much better job",
    "unbelievably awesome xylophone",
    "Great phone, terrible battery.",
]
TOL = {"probability": 2e-6, "logit": 1e-5}  # float32 noise of the model's outputs, see test_occlusion.py
METHOD = Lime()


def kernel(d, kernel_width=25):
    """lime's LimeTextExplainer kernel."""
    return np.sqrt(np.exp(-(d**2) / kernel_width**2))


def reviews(texts):
    return texts_to_reviews(texts)


def synthetic(masks, seed):
    rng = np.random.default_rng(seed)
    z = masks.astype(np.float64)
    m = z.shape[1]
    return z @ rng.normal(size=m) + 0.8 * z[:, 0] * z[:, -1] + 0.1 * rng.normal(size=len(z))


def lime_base_fit(masks, values):
    """lime's own regression on this neighbourhood: LimeBase with every feature, distances as lime computes them."""
    lime_base = pytest.importorskip("lime.lime_base")
    from sklearn.metrics.pairwise import pairwise_distances

    data = masks.astype(np.float64)
    distances = pairwise_distances(data, data[:1], metric="cosine").ravel() * 100
    _, exp, score, _ = lime_base.LimeBase(kernel, random_state=0).explain_instance_with_data(
        data, values[:, None], distances, 0, data.shape[1], feature_selection="none")
    coef = np.zeros(data.shape[1])
    for feature, weight in exp:
        coef[feature] = weight
    return coef, score


@pytest.fixture(scope="module")
def lm(sharp_lm):
    return sharp_lm


@pytest.mark.parametrize("m", [1, 2, 5, 12, 40])
def test_copies_are_those_of_lime_text_explainer(m):
    lime_text = pytest.importorskip("lime.lime_text")
    params = {"samples": 300, "seed": 4}
    masks = METHOD.masks(m, params, "the review")
    explainer = lime_text.LimeTextExplainer(bow=False, random_state=stable_seed(4, "the review") % (1 << 32))
    words = lime_text.IndexedString(" ".join(f"w{i}" for i in range(m)), bow=False)
    data, _, _ = explainer._LimeTextExplainer__data_labels_distances(
        words, lambda texts: np.zeros((len(texts), 2)), 300)
    assert masks.dtype == bool and masks.shape == (300, m)
    assert np.array_equal(masks, data.astype(bool))
    assert masks[0].all() and not masks[1:].all(1).any()  # the review itself first, then 1..M words removed


@pytest.mark.parametrize("m,samples", [(1, 50), (2, 50), (5, 200), (12, 300), (40, 500), (60, 80)])
def test_scores_and_r2_equal_lime_base_on_the_same_neighbourhood(m, samples):
    masks = METHOD.masks(m, {"samples": samples, "seed": m}, "key")
    values = synthetic(masks, m)
    result = METHOD.attribute(masks, values, {"samples": samples})
    coef, score = lime_base_fit(masks, values)
    assert result.scores == pytest.approx(coef, abs=1e-9)
    assert result.extra["r2"] == pytest.approx(score, abs=1e-9)
    assert 0.0 <= result.extra["r2"] <= 1.0
    assert np.abs(coef).max() > (0.1 if m > 2 else 0.01)


def test_duplicate_copies_weigh_as_often_as_they_occur():
    masks = METHOD.masks(8, {"samples": 200, "seed": 0}, "key")
    assert len({r.tobytes() for r in masks}) < len(masks)  # 8 words: lime's draws repeat
    doubled = np.vstack([masks, masks[5:9]])
    values = synthetic(doubled, 1)
    result = METHOD.attribute(doubled, values, {"samples": 200})
    coef, score = lime_base_fit(doubled, values)
    assert result.scores == pytest.approx(coef, abs=1e-9) and result.extra["r2"] == pytest.approx(score, abs=1e-9)
    # a constant output: zero scores and a perfect fit, as sklearn's Ridge and r2_score give
    flat = METHOD.attribute(masks, np.full(len(masks), 0.25), {"samples": 200})
    assert flat.scores.tolist() == [0.0] * 8 and flat.extra == {"r2": 1.0}


@pytest.mark.parametrize("baseline,texts", [("mask", PLAIN), ("delete", PLAIN + TEXTS[1:2])])
def test_equals_lime_text_explainer_on_the_model(lm, baseline, texts):
    """LimeTextExplainer(bow=False) with the random state our seed gives, removed words becoming the
    mask token (or nothing, for delete), classifying with the model: same scores, same R^2."""
    lime_text = pytest.importorskip("lime.lime_text")
    tok = lm.tokenizer

    def classify(strings):  # the model's probabilities, all of lime's copies in one padded batch
        with torch.no_grad():
            logits = lm.model(**tok(list(strings), padding=True, return_tensors="pt")).logits.float()
        return torch.softmax(logits, -1).double().numpy()

    settings = make_settings(["lime"], options={"baseline": baseline, "samples": 150, "seed": 2})
    ex = explain_reviews(lm, reviews(texts), settings)
    for e in ex:
        assert len(tok(e.text)["input_ids"]) - 2 == len(e.words) or baseline == "delete"
        explainer = lime_text.LimeTextExplainer(
            bow=False, mask_string=tok.mask_token if baseline == "mask" else "", feature_selection="none",
            random_state=stable_seed(2, e.text) % (1 << 32))
        ref = explainer.explain_instance(e.text, classify, labels=(e.target.index,), num_features=len(e.words),
                                         num_samples=150)
        assert [w for _, w in sorted(ref.as_map()[e.target.index])] == pytest.approx(
            [w.score for w in e.words], abs=1e-5)
        assert e.params["r2"] == pytest.approx(ref.score, abs=1e-5)
        assert e.params == {"baseline": baseline, "features": "word", "samples": 150, "seed": 2, "r2": e.params["r2"]}
    assert max(abs(w.score) for e in ex for w in e.words) > 0.01


def test_r2_is_recorded_per_target_within_0_and_1(lm):
    ex = explain_reviews(lm, reviews(TEXTS + PLAIN), make_settings(["lime"], target=["all"], attribute="logit"))
    assert len(ex) == 6 * 3
    r2 = [e.params["r2"] for e in ex]
    assert all(0.0 <= r <= 1.0 for r in r2)
    assert len({round(r, 9) for r in r2}) > 10  # a fit per review and target
    assert max(r2) > 0.3


def test_seeds_repeat_exactly_and_differ_between_seeds(lm):
    def run(seed):
        settings = make_settings(["lime"], options={"samples": 100, "seed": seed}, attribute="logit")
        return [[w.score for w in e.words] + [e.params["r2"]] for e in explain_reviews(lm, reviews(TEXTS), settings)]

    first, again, other = run(0), run(0), run(1)
    assert first == again
    for a, b in zip(first, other):
        assert np.abs(np.array(a) - np.array(b)).max() > 1e-4


def test_a_review_alone_or_in_any_batch_gets_the_same_scores(lm):
    assert_batch_invariant(lm, "lime", TEXTS + PLAIN, {"samples": 80}, (1, 4, 16), TOL["probability"],
                           extra=lambda e: [e.params["r2"]])


def test_token_features_explain_each_token(lm):
    settings = make_settings(["lime"], options={"features": "token", "samples": 120}, attribute="logit")
    (e,) = explain_reviews(lm, reviews(TEXTS[1:2]), settings)
    pieces = [t for t in e.tokens if not t.special]
    assert len(pieces) > len(e.words)  # several tokens per word, each its own feature
    masks = METHOD.masks(len(pieces), {"samples": 120, "seed": 0}, e.text)
    assert masks.shape == (120, len(pieces))
    assert e.params["features"] == "token" and 0.0 <= e.params["r2"] <= 1.0
    assert len({round(t.score, 9) for t in pieces}) == len(pieces)


def test_parameters_are_validated_naming_the_option():
    with pytest.raises(SettingError, match="^samples: must be at least 2") as info:
        make_settings(["lime"], options={"samples": 1})
    assert info.value.option == "samples"
    with pytest.raises(SettingError, match="^features: "):
        make_settings(["lime"], options={"features": "sentence"})
    assert get_method("LIME") is get_method("lime")
    run = make_settings(["lime"]).methods[0]
    assert dict(run.params) == {"baseline": None, "features": "word", "samples": 500, "seed": 0}
    assert dict(make_settings(["lime"], options={"samples": 2}).methods[0].params)["samples"] == 2  # the least


def test_no_features_one_copy_and_an_empty_fit():
    from saliency_cli.methods.lime import ridge_fit

    lime = Lime()
    assert lime.masks(0, {"samples": 50, "seed": 0}, "text").shape == (1, 0)
    coef, r2 = ridge_fit(np.ones((1, 0)), np.array([0.7]))
    assert coef.shape == (0,) and r2 == 1.0


def test_windows_record_every_fit_and_the_worst_as_r2():
    lime = Lime()
    first = {"samples": 500, "seed": 0, "r2": 0.8}
    assert lime.window_params([first, {**first, "samples": 9, "r2": 0.5}, {**first, "r2": 0.9}]) == {
        "samples": 500, "seed": 0, "r2": 0.5, "r2_windows": [0.8, 0.5, 0.9]}


def test_listed_by_the_methods_command():
    res = CliRunner().invoke(app, ["methods"])
    assert res.exit_code == 0, res.output
    rows = method_rows(res.stdout)
    assert "lime" in rows and "kernel-shap" in rows
    assert "--samples (500)" in res.stdout and "--seed (0)" in res.stdout

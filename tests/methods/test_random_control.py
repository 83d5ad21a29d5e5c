"""The random control: seeded scores per word, the same in any batch, and no model evaluation."""

from __future__ import annotations

import numpy as np

from saliency_cli.methods import get_method
from saliency_cli.runners.local import explain_reviews
from saliency_cli.inputs import texts_to_reviews
from saliency_cli.settings import make_settings

TEXTS = ["Great phone, terrible battery.", "unbelievably awesome xylophone", "Works as described."]


def scores(lm, texts, batch_size=8, seed=0):
    settings = make_settings(["random"], options={"seed": seed}, batch_size=batch_size)
    return {e.id: [w.score for w in e.words] for e in explain_reviews(lm, texts_to_reviews(texts), settings)}


def test_scores_are_seeded_per_review_and_batch_independent(tiny_lm):
    together = scores(tiny_lm, TEXTS)
    alone = scores(tiny_lm, TEXTS, batch_size=1)
    assert together == alone
    assert scores(tiny_lm, TEXTS, seed=1) != together
    assert len(together["1"]) == 6 and len(set(together["1"])) == 6


def test_a_word_gets_one_standard_normal_draw():
    method = get_method("random")
    params = method.resolve({})
    masks = method.masks(4, params, "some review")
    assert masks.shape == (0, 4)  # no copies to run
    a = method.attribute(masks, np.zeros((0,)), params, "some review").scores
    b = method.attribute(masks, np.zeros((0,)), params, "other review").scores
    assert a.shape == (4,) and not np.allclose(a, b)
    assert np.array_equal(a, method.attribute(masks, np.zeros((0,)), params, "some review").scores)


def test_runs_no_model_forward(tiny_lm, monkeypatch):
    from saliency_cli.engine import forward

    calls = []
    real = forward._forward
    monkeypatch.setattr(forward, "_forward", lambda lm, inputs, *a: calls.append(len(inputs)) or real(lm, inputs, *a))
    scores(tiny_lm, TEXTS)
    assert calls == [0]


def test_no_copies_and_draws_pinned_to_seed_and_text():
    """The scores of a seed and review text are fixed across releases: saved results stay reproducible."""
    import numpy as np

    from saliency_cli.methods import get_method
    from saliency_cli.methods.base import stable_seed

    method = get_method("random")
    masks = method.masks(4, {"seed": 3}, "a review")
    assert masks.shape == (0, 4) and masks.dtype == bool
    got = method.attribute(masks, np.zeros(0), {"seed": 3}, "a review").scores
    want = np.random.default_rng(stable_seed(3, "random", "a review")).standard_normal(4)
    assert got.tolist() == want.tolist()
    assert got.tolist() != method.attribute(masks, np.zeros(0), {"seed": 3}, "another").scores.tolist()

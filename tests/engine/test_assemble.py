"""Long reviews explained in windows (``long_text="window"``), for every kind of method, against each
window computed directly: the window's token ids through the model one copy (or one noisy point) at
a time, no padding, no batching, no engine. Every stitched word must hold the score it has in the
window where it sits most central, and a window's own figures (LIME's fit, adaptive IG's steps) must
all be recorded, not the first window's alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from saliency_cli.engine.encoding import encode
from saliency_cli.methods import get_method
from saliency_cli.methods.base import stable_seed
from saliency_cli.records import Review
from saliency_cli.runners.local import explain_reviews
from saliency_cli.settings import make_settings

# Words the tiny tokenizer keeps whole or cuts into a few pieces; no punctuation, so words are spans
# between spaces. 60 words at 24 tokens a window: several windows that overlap.
VOCAB = ("great phone terrible battery would not recommend it the screen is bright and sound excellent "
         "awful customer service they never answered my emails works as described arrived on time good "
         "value for money other brands do much better job").split()
TEXT = " ".join(VOCAB[(7 * i + 3) % len(VOCAB)] for i in range(60))
PARAMS = {"occlusion": {}, "kernel-shap": {"samples": 64}, "lime": {"samples": 64}, "random": {"seed": 3},
          "smooth-grad": {"samples": 3, "noise": 0.2}, "gradient-x-input": {}}


@pytest.fixture(scope="module")
def lm(sharp_lm):
    return dataclasses.replace(sharp_lm, max_length=24)


def forward(lm, ids):
    """The explained output (probability of every label) of one sequence of token ids, float64."""
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = lm.model(input_ids=x, attention_mask=torch.ones_like(x)).logits.float()[0]
    return torch.softmax(logits, -1).double().numpy()


def word_groups(enc):
    """Positions of each word of a window: consecutive non-special tokens with one word id."""
    groups, current = [], None
    for pos, (special, wid) in enumerate(zip(enc.special, enc.word_ids)):
        if special:
            current = None
        elif groups and wid == current:
            groups[-1].append(pos)
        else:
            groups.append([pos])
            current = wid
    return groups


def perturbation_window(lm, enc, method, params, target):
    """(word scores, extra) of a perturbation method on one window: its copies' token ids built here,
    each run alone. The key is the review from the window's first word on (how a window is seeded)."""
    groups = word_groups(enc)
    key = enc.review.text[enc.offsets[groups[0][0]][0]:]
    masks = method.masks(len(groups), params, key)
    values = []
    for keep in masks:
        ids = list(enc.input_ids)
        for f in np.flatnonzero(~keep):
            for pos in groups[f]:
                ids[pos] = lm.tokenizer.mask_token_id
        values.append(forward(lm, ids)[target])
    result = method.attribute(masks, np.array(values, dtype=np.float64), params, key)
    return list(result.scores), dict(result.extra or {})


def gradient_window(lm, enc, params, target, samples=1, noise=0.0):
    """Gradient x input (averaged over SmoothGrad's noisy points, drawn as SmoothGrad draws them) per
    word of one window: one point at a time, the window's embeddings alone."""
    emb = lm.model.get_input_embeddings()(torch.tensor([enc.input_ids])).detach()
    sigma = noise * float(emb.max() - emb.min())
    total = torch.zeros(enc.length, dtype=torch.float64)
    for k in range(samples):
        gen = torch.Generator().manual_seed(stable_seed(params.get("seed", 0), enc.review.text, k))
        x = (emb + sigma * torch.randn(enc.length, emb.shape[-1], generator=gen)).requires_grad_(True)
        out = torch.softmax(lm.model(inputs_embeds=x, attention_mask=torch.ones(1, enc.length)).logits, -1)
        (grad,) = torch.autograd.grad(out[0, target], x)
        total += (grad[0] * emb[0]).sum(-1).double()
    return [float(sum(total[p] for p in g)) / samples for g in word_groups(enc)]


def reference_words(lm, windows, name, params, target):
    """Per window: {(start, end): score} of its words, its (first, last) character, and extras."""
    method = get_method(name)
    out = []
    for enc in windows:
        if method.family == "gradient":
            scores, extra = gradient_window(lm, enc, params, target, params.get("samples", 1),
                                            params.get("noise", 0.0)), {}
        else:
            scores, extra = perturbation_window(lm, enc, method, params, target)
        groups = word_groups(enc)
        spans = [(enc.offsets[g[0]][0], enc.offsets[g[-1]][1]) for g in groups]
        out.append((dict(zip(spans, scores)), (spans[0][0], spans[-1][1]), extra))
    return out


def most_central(span, reference):
    """The window index in which a word is farthest from the window's edges (the first on ties)."""
    centre = (span[0] + span[1]) / 2
    inside = [(min(centre - lo, hi - centre), -w) for w, (words, (lo, hi), _) in enumerate(reference) if span in words]
    return -max(inside)[1]


@pytest.mark.parametrize("name", list(PARAMS))
def test_every_word_of_a_windowed_review_is_its_most_central_window_s_score(lm, name):
    review = Review("1", TEXT, 1)
    [windows] = encode(lm, [review], long_text="window")
    assert len(windows) >= 3
    (e,) = explain_reviews(lm, [review], make_settings([name], options=PARAMS[name], long_text="window"))
    assert e.windows == len(windows) and not e.truncated
    assert [w.word for w in e.words] == TEXT.split()
    reference = reference_words(lm, windows, name, e.params, e.target.index)
    scale = max(abs(s) for words, _, _ in reference for s in words.values())
    assert scale > 1e-3  # scores that can be told apart
    from_window = [most_central((w.start, w.end), reference) for w in e.words]
    assert len(set(from_window)) == len(windows)  # every window gives some words
    for w, win in zip(e.words, from_window):
        assert w.score == pytest.approx(reference[win][0][(w.start, w.end)], abs=1e-5 * scale), (w.word, win)
    assert sum(t.score for t in e.tokens) == pytest.approx(sum(w.score for w in e.words), abs=1e-6 * scale)


def test_lime_records_every_window_s_fit_and_the_worst_as_r2(lm):
    review = Review("1", TEXT, 1)
    [windows] = encode(lm, [review], long_text="window")
    (e,) = explain_reviews(lm, [review], make_settings(["lime"], options=PARAMS["lime"], long_text="window"))
    fits = [extra["r2"] for _, _, extra in reference_words(lm, windows, "lime", e.params, e.target.index)]
    assert max(fits) - min(fits) > 1e-3  # windows fit differently: the first one's alone would be wrong
    assert e.params["r2_windows"] == pytest.approx(fits, abs=1e-6)
    assert e.params["r2"] == pytest.approx(min(fits), abs=1e-6)
    (short,) = explain_reviews(lm, [Review("2", "great phone", 2)], make_settings(["lime"], options=PARAMS["lime"],
                                                                                   long_text="window"))
    assert "r2_windows" not in short.params and 0 <= short.params["r2"] <= 1


def test_adaptive_ig_records_the_steps_of_every_window(lm):
    options = {"steps": 2, "ig_rule": "riemann-left", "ig_tolerance": 0.05, "ig_max_steps": 64}
    review = Review("1", TEXT, 1)
    (e,) = explain_reviews(lm, [review], make_settings(["ig"], options=options, long_text="window"))
    steps = e.params["steps_windows"]
    assert len(steps) == e.windows and len(set(steps)) > 1  # windows needed different steps
    assert e.params["steps"] == max(steps)
    # each window's count is what that window needs: the same window explained as its own review
    # (its text, from its first to its last word) stops at the same count
    [windows] = encode(lm, [review], long_text="window")
    for enc, n in zip(windows, steps):
        groups = word_groups(enc)
        text = TEXT[enc.offsets[groups[0][0]][0]:enc.offsets[groups[-1][-1]][1]]
        assert lm.tokenizer(text)["input_ids"] == enc.input_ids  # the window is that text, token for token
        (alone,) = explain_reviews(lm, [Review("w", text, 1)], make_settings(["ig"], options=options,
                                                                             target=[e.target.label]))
        assert alone.params["steps"] == n

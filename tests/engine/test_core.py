"""Engine correctness against independent math: completeness, batching, finite differences, seeds."""

from __future__ import annotations

import math

import pytest
import torch

from saliency_cli.engine.encoding import encode
from saliency_cli.runners.local import explain_reviews, explain_stream
from saliency_cli.settings import make_settings
from saliency_cli.records import Review
from tests.conftest import CORPUS
from tests.factories import ig_inputs

TEXTS = [
    "Not buying it any sooner! Other brands do a much better job",
    "great",
    "The screen is bright and the sound is excellent, but the battery is awful and the case cracked.",
    "Works as described.",
    "Awful customer service; they never answered my emails.",
]


def reviews(texts=TEXTS):
    return [Review(str(i), t, i) for i, t in enumerate(texts, start=1)]


def by_key(explanations):
    return {(e.id, e.method, e.target.index): e for e in explanations}


def _forward_value(lm, emb, mask, target, attribute):
    logits = lm.model(inputs_embeds=emb, attention_mask=mask).logits.float()
    out = torch.softmax(logits, -1) if attribute == "probability" else logits
    return out[0, target]


GRADIENT_METHODS = ["grad", "gxi", "ig", "sg"]
OPTIONS = {"steps": 8, "samples": 4}


def scores(e):
    return [t.score for t in e.tokens]


def assert_same_scores(a, b, rel=1e-5, key=None):
    """Two records' token scores agree within ``rel`` of the larger record's largest |score|, which must
    be far from zero: a tolerance of the scores' own size, not of float noise on outputs that do not move."""
    scale = max(max(map(abs, scores(a))), max(map(abs, scores(b))))
    assert scale > 1e-3, (key, scale)
    assert scores(a) == pytest.approx(scores(b), abs=rel * scale), key


def change(lm, text, target, attribute, baseline="pad"):
    """F(x) - F(baseline) from two fresh forwards on the review and on its baseline."""
    emb, base, mask = ig_inputs(lm, text, baseline)
    with torch.no_grad():
        fx = _forward_value(lm, emb, mask, target, attribute)
        fb = _forward_value(lm, base, mask, target, attribute)
    return float(fx - fb)


# Float32 noise of one output F between a padded batch and a review alone (tests/methods/test_occlusion.py)
F_NOISE = {"probability": 1e-6, "logit": 5e-6}


@pytest.mark.parametrize("attribute", ["probability", "logit"])
def test_ig_completeness_within_one_percent(sharp_lm, attribute):
    settings = make_settings(["ig"], target=["all"], attribute=attribute)
    for e in explain_reviews(sharp_lm, reviews(), settings):
        diff = change(sharp_lm, e.text, e.target.index, attribute)
        assert abs(diff) > 1e-3
        assert abs(sum(scores(e)) - diff) <= 0.01 * abs(diff)


@pytest.mark.parametrize("baseline", ["pad", "mask", "zero"])
@pytest.mark.parametrize("attribute", ["probability", "logit"])
def test_ig_delta_is_the_completeness_gap_computed_independently(sharp_lm, attribute, baseline):
    """delta = sum(scores) - (F(x) - F(baseline)), F from fresh forwards. Two left-Riemann steps leave
    gaps of the size of the scores, so a sign or a term wrong in delta is far outside the tolerance."""
    settings = make_settings(["ig"], options={"steps": 2, "ig_rule": "riemann-left", "baseline": baseline},
                             target=["all"], attribute=attribute)
    for e in explain_reviews(sharp_lm, reviews(), settings):
        diff = change(sharp_lm, e.text, e.target.index, attribute, baseline)
        gap = sum(scores(e)) - diff
        tol = 2 * F_NOISE[attribute] + 1e-6 * sum(map(abs, scores(e)))  # F(x) and F(baseline), summed scores
        assert abs(gap) > 100 * tol
        assert e.delta == pytest.approx(gap, abs=tol)


def test_batched_equals_one_at_a_time_and_batch_size_independent(sharp_lm):
    """Reviews of different lengths padded together, in any batch size, give each review the scores it
    gets alone, for every gradient method and target."""
    def run(texts, bs):
        settings = make_settings(GRADIENT_METHODS, options=OPTIONS, target=["all"], batch_size=bs)
        return by_key(explain_reviews(sharp_lm, reviews(texts), settings))

    together = run(TEXTS, 5)
    assert len(together) == len(TEXTS) * len(GRADIENT_METHODS) * 3
    for bs in (2, 3):
        other = run(TEXTS, bs)
        assert other.keys() == together.keys()
        for key, e in together.items():
            assert_same_scores(e, other[key], key=key)
    for rid, text in enumerate(TEXTS, start=1):
        for (_, m, t), e in run([text], 1).items():
            assert_same_scores(e, together[(str(rid), m, t)], key=(rid, m, t))


def test_gradient_x_input_matches_finite_differences(tiny_lm):
    text = TEXTS[0]
    (e,) = explain_reviews(tiny_lm, reviews([text]), make_settings(["gxi"], attribute="logit"))
    enc = tiny_lm.tokenizer(text, return_tensors="pt")
    emb = tiny_lm.model.get_input_embeddings()(enc["input_ids"]).detach().double()
    model = tiny_lm.model.double()
    try:
        h = 1e-4
        for i in range(emb.shape[1]):
            up, down = emb.clone(), emb.clone()
            up[0, i] *= 1 + h
            down[0, i] *= 1 - h
            with torch.no_grad():
                fu = model(inputs_embeds=up, attention_mask=enc["attention_mask"]).logits[0, e.target.index]
                fd = model(inputs_embeds=down, attention_mask=enc["attention_mask"]).logits[0, e.target.index]
            # d/dt F(x_i (1 + t)) at t = 0 is exactly grad_i . x_i
            assert e.tokens[i].score == pytest.approx(float(fu - fd) / (2 * h), rel=1e-3, abs=1e-6)
    finally:
        model.float()


def test_gradient_norm_matches_directional_derivative(tiny_lm):
    text = TEXTS[3]
    (e,) = explain_reviews(tiny_lm, reviews([text]), make_settings(["grad"], attribute="logit"))
    enc = tiny_lm.tokenizer(text, return_tensors="pt")
    emb = tiny_lm.model.get_input_embeddings()(enc["input_ids"]).detach().double().requires_grad_(True)
    model = tiny_lm.model.double()
    try:
        out = model(inputs_embeds=emb, attention_mask=enc["attention_mask"]).logits[0, e.target.index]
        (g,) = torch.autograd.grad(out, emb)
        h = 1e-5
        for i in range(emb.shape[1]):
            direction = torch.zeros_like(emb)
            direction[0, i] = g[0, i] / g[0, i].norm()
            with torch.no_grad():
                fu = model(inputs_embeds=emb + h * direction, attention_mask=enc["attention_mask"]).logits[0, e.target.index]
                fd = model(inputs_embeds=emb - h * direction, attention_mask=enc["attention_mask"]).logits[0, e.target.index]
            assert e.tokens[i].score == pytest.approx(float(fu - fd) / (2 * h), rel=1e-4)
    finally:
        model.float()


def test_smoothgrad_same_seed_repeats_alone_or_in_batch(sharp_lm):
    s = make_settings(["sg"], options={"seed": 7, "samples": 8})
    first = by_key(explain_reviews(sharp_lm, reviews(), s))
    again = by_key(explain_reviews(sharp_lm, reviews(), s))
    alone = by_key(explain_reviews(sharp_lm, reviews(TEXTS[1:2]), s))
    for key, e in first.items():
        assert scores(e) == scores(again[key])
    (solo,) = alone.values()
    assert_same_scores(solo, next(e for k, e in first.items() if k[0] == "2"))
    other_seed = by_key(explain_reviews(sharp_lm, reviews(), make_settings(["sg"], options={"seed": 8, "samples": 8})))
    for key, e in first.items():  # another seed moves every review's scores by more than float noise
        scale = max(map(abs, scores(e)))
        assert max(abs(a - b) for a, b in zip(scores(e), scores(other_seed[key]))) > 1e-3 * scale, key


def test_noise_free_smoothgrad_is_gradient_x_input(sharp_lm):
    sg = by_key(explain_reviews(sharp_lm, reviews(), make_settings(["sg"], options={"noise": 0.0, "samples": 3})))
    gxi = by_key(explain_reviews(sharp_lm, reviews(), make_settings(["gxi"])))
    for (rid, _, t), e in sg.items():
        assert_same_scores(e, gxi[(rid, "gradient-x-input", t)], key=rid)


def test_targets_predicted_named_and_all(tiny_lm):
    ex = explain_reviews(tiny_lm, reviews(TEXTS[:1]), make_settings(["gxi"], target=["predicted", "positive", "all"]))
    targets = [e.target.index for e in ex]
    assert targets[0] == ex[0].prediction.index
    assert sorted(targets) == [0, 1, 2] and len(set(targets)) == 3
    assert ex[0].prediction.probs and math.isclose(sum(ex[0].prediction.probs.values()), 1.0, rel_tol=1e-5)


def test_targets_sharing_a_forward_equal_each_target_alone(sharp_lm):
    """Several targets of a review share each point's forward pass; every target's scores must equal
    a run that asks for that target alone, also when reviews have different numbers of targets."""
    rows = reviews(CORPUS)  # the sharpened model predicts each of the three labels for some of them
    both = by_key(explain_reviews(sharp_lm, rows, make_settings(GRADIENT_METHODS, options=OPTIONS,
                                                                target=["predicted", "neutral"])))
    counts: dict[str, int] = {}
    for rid, _, _ in both:
        counts[rid] = counts.get(rid, 0) + 1
    assert set(counts.values()) == {len(GRADIENT_METHODS), 2 * len(GRADIENT_METHODS)}  # one target or two
    compared = 0
    for label in ("negative", "neutral", "positive"):
        alone = by_key(explain_reviews(sharp_lm, rows, make_settings(GRADIENT_METHODS, options=OPTIONS, target=[label])))
        for key, e in alone.items():
            if key in both:
                assert_same_scores(e, both[key], key=key)
                compared += 1
    assert compared == len(both)


def test_truncation_is_flagged_with_dropped_count(tiny_lm):
    long_text = " ".join(["great"] * 200)
    [[enc]] = encode(tiny_lm, [Review("1", long_text, 1)])
    assert enc.length == tiny_lm.max_length
    full = len(tiny_lm.tokenizer(long_text, add_special_tokens=False)["input_ids"])
    assert enc.dropped == full - (tiny_lm.max_length - 2)
    (e,) = explain_reviews(tiny_lm, [Review("1", long_text, 1)], make_settings(["grad"]))
    assert e.truncated and e.dropped_tokens == enc.dropped


@pytest.mark.parametrize("method", ["ig", "sg"])
def test_small_memory_budget_gives_same_scores(sharp_lm, method):
    """1 MB holds a few dozen points of these reviews: chunks that end within a review and hold points
    of reviews of different lengths."""
    options = {"steps": 16, "samples": 16}
    big = by_key(explain_reviews(sharp_lm, reviews(), make_settings([method], options=options)))
    small = by_key(explain_reviews(sharp_lm, reviews(), make_settings([method], options=options, max_memory=1 << 20)))
    for key, e in big.items():
        assert_same_scores(e, small[key], key=key)


def test_batches_are_cut_by_the_memory_budget_not_only_the_batch_size(tiny_lm):
    from saliency_cli.engine.budget import groups as cut

    encoded = [windows[0] for windows in encode(tiny_lm, reviews())]
    flat = sorted(((i, 0, e) for i, e in enumerate(encoded)), key=lambda item: item[2].length)
    length = lambda item: item[2].length  # noqa: E731
    assert [len(g) for g in cut(tiny_lm, flat, length, 16, 1 << 30)] == [5]
    assert [len(g) for g in cut(tiny_lm, flat, length, 2, 1 << 30)] == [2, 2, 1]
    # hidden 32: one review of L tokens holds L x 32 x 8 bytes of embeddings; an eighth of the budget fits 2 longest
    budget = 8 * (2 * flat[-1][2].length * 32 * 8)
    groups = list(cut(tiny_lm, flat, length, 16, budget))
    assert [item for g in groups for item in g] == flat and len(groups) > 1
    for g in groups:
        assert len(g) * max(e.length for _, _, e in g) * 32 * 8 <= budget // 8


def test_words_are_spans_of_the_text(tiny_lm):
    (e,) = explain_reviews(tiny_lm, reviews(["isn't it the worst? it's fine, 100% sure :)"]), make_settings(["ig"]))
    for w in e.words:
        assert e.text[w.start : w.end] == w.word and w.word.strip() == w.word and w.word
    assert sum(w.score for w in e.words) == pytest.approx(sum(t.score for t in e.tokens), abs=1e-9)


def test_long_text_window_covers_the_whole_review(tiny_lm):
    words = [("good" if i % 3 else "awful") + str(i % 7) for i in range(150)]
    long_text = " ".join(words)
    windows = encode(tiny_lm, [Review("1", long_text, 1)], long_text="window")[0]
    assert len(windows) > 2 and all(w.length <= tiny_lm.max_length for w in windows)
    settings = make_settings(["ig"], options={"steps": 16}, long_text="window", normalize="max")
    (e,) = explain_reviews(tiny_lm, [Review("1", long_text, 1), Review("2", "short one", 2)], settings)[:1]
    assert e.windows == len(windows) and not e.truncated and e.dropped_tokens == 0
    assert [w.word for w in e.words] == long_text.split()
    assert max(abs(w.score) for w in e.words) == pytest.approx(1.0)
    assert e.tokens[-1].end == len(long_text)
    assert sum(e.prediction.probs.values()) == pytest.approx(1.0, rel=1e-5)
    # A short review in the same run is untouched by the window mode.
    short = explain_reviews(tiny_lm, [Review("2", "short one", 2)], make_settings(["ig"], options={"steps": 16}, normalize="max"))
    windowed = explain_reviews(tiny_lm, [Review("2", "short one", 2)], settings)
    assert [t.score for t in short[0].tokens] == pytest.approx([t.score for t in windowed[0].tokens], abs=1e-9)


def test_adaptive_ig_stops_at_the_first_doubling_under_tolerance(sharp_lm):
    """Adaptive IG against fixed-step runs: at the step count it chose each review gets the scores and
    delta of a plain run with that many steps, its gap is within the tolerance of F(x) - F(baseline)
    (from fresh forwards), and where it doubled, half as many steps were not."""
    base, tolerance = {"steps": 2, "ig_rule": "riemann-middle"}, 0.01
    adaptive = explain_reviews(sharp_lm, reviews(), make_settings(
        ["ig"], options={**base, "ig_tolerance": tolerance, "ig_max_steps": 1024}, attribute="logit"))
    assert [e.id for e in adaptive] == ["1", "2", "3", "4", "5"]
    chosen = [e.params["steps"] for e in adaptive]
    assert len(set(chosen)) > 1  # reviews needed different counts

    def fixed(steps, review):
        (e,) = explain_reviews(sharp_lm, [review], make_settings(["ig"], options={**base, "steps": steps},
                                                                 attribute="logit"))
        return e

    for e, review in zip(adaptive, reviews()):
        steps = e.params["steps"]
        assert steps & (steps - 1) == 0
        diff = change(sharp_lm, e.text, e.target.index, "logit")
        plain = fixed(steps, review)
        assert_same_scores(e, plain, key=e.id)
        assert e.delta == pytest.approx(plain.delta, abs=2 * F_NOISE["logit"])
        assert abs(sum(scores(e)) - diff) <= tolerance * abs(diff)
        if steps > base["steps"]:  # it doubled: half as many steps were not enough
            coarser = fixed(steps // 2, review)
            assert abs(sum(scores(coarser)) - diff) > tolerance * abs(diff)


def test_stream_reads_lazily_holding_one_batch(tiny_lm):
    consumed = [0]

    def endless():
        i = 0
        while True:
            i += 1
            consumed[0] = i
            yield Review(str(i), f"review {i} is fine", i)

    stream = explain_stream(tiny_lm, endless(), make_settings(["grad"], batch_size=4))
    first = [next(stream) for _ in range(10)]
    assert [o.review.id for o in first] == [str(i) for i in range(1, 11)]
    assert consumed[0] <= 12  # three batches of 4 give the first 10 results: nothing read ahead
    stream.close()


def test_out_of_memory_halves_the_chunk_and_retries(sharp_lm, monkeypatch):
    settings = make_settings(["ig", "grad"], options={"steps": 16}, max_memory=64 << 20)
    reference = by_key(explain_reviews(sharp_lm, reviews(), settings))
    real_forward = type(sharp_lm.model).forward
    sizes = []

    def forward_with_small_memory(self, *args, **kwargs):
        rows = kwargs["inputs_embeds"].shape[0]
        sizes.append(rows)
        if rows > 2:
            raise torch.OutOfMemoryError("simulated: out of memory")
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(type(sharp_lm.model), "forward", forward_with_small_memory)
    retried = by_key(explain_reviews(sharp_lm, reviews(), settings))
    assert max(sizes) > 2 and any(s <= 2 for s in sizes)
    for key, e in reference.items():
        assert_same_scores(e, retried[key], key=key)

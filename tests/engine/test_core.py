"""Engine correctness against independent math: completeness, batching, finite differences, seeds."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from saliency_cli.engine.encoding import encode
from saliency_cli.runners.local import explain_reviews, explain_stream
from saliency_cli.settings import make_settings
from saliency_cli.records import Review
from tests.conftest import CORPUS

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


@pytest.mark.parametrize("attribute", ["probability", "logit"])
def test_ig_completeness_within_one_percent(tiny_lm, attribute):
    settings = make_settings(["ig"], target=["all"], attribute=attribute)
    for e in explain_reviews(tiny_lm, reviews(), settings):
        total = sum(t.score for t in e.tokens)
        # Independent check of F(x) - F(x'): fresh forwards on the input and on the [PAD] baseline.
        enc = tiny_lm.tokenizer(e.text, return_tensors="pt", return_special_tokens_mask=True)
        ids = enc["input_ids"]
        base_ids = torch.where(enc["special_tokens_mask"].bool(), ids, torch.full_like(ids, tiny_lm.tokenizer.pad_token_id))
        emb_layer = tiny_lm.model.get_input_embeddings()
        with torch.no_grad():
            fx = _forward_value(tiny_lm, emb_layer(ids), enc["attention_mask"], e.target.index, attribute)
            fb = _forward_value(tiny_lm, emb_layer(base_ids), enc["attention_mask"], e.target.index, attribute)
        diff = float(fx - fb)
        assert abs(total - diff) <= 0.01 * abs(diff) + 1e-7
        assert e.delta == pytest.approx(total - diff, abs=1e-6)


def test_batched_equals_one_at_a_time_and_batch_size_independent(tiny_lm):
    methods = ["grad", "gxi", "ig", "sg"]
    together = by_key(explain_reviews(tiny_lm, reviews(), make_settings(methods, target=["all"], batch_size=5)))
    for bs in (1, 2, 3):
        other = by_key(explain_reviews(tiny_lm, reviews(), make_settings(methods, target=["all"], batch_size=bs)))
        assert other.keys() == together.keys()
        for key, e in together.items():
            a = [t.score for t in e.tokens]
            b = [t.score for t in other[key].tokens]
            scale = max(abs(x) for x in a) or 1.0
            assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-5 * max(scale, 1.0), key
    alone = by_key(explain_reviews(tiny_lm, reviews()[2:3], make_settings(methods, target=["all"])))
    for (rid, m, t), e in alone.items():
        ref = together[("3", m, t)]
        assert [round(x.score, 9) for x in e.tokens] == pytest.approx([round(x.score, 9) for x in ref.tokens], abs=1e-8)


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


def test_smoothgrad_same_seed_repeats_alone_or_in_batch(tiny_lm):
    s = make_settings(["sg"], options={"seed": 7, "samples": 8})
    first = by_key(explain_reviews(tiny_lm, reviews(), s))
    again = by_key(explain_reviews(tiny_lm, reviews(), s))
    alone = by_key(explain_reviews(tiny_lm, reviews(TEXTS[1:2]), s))
    for key, e in first.items():
        assert [t.score for t in e.tokens] == [t.score for t in again[key].tokens]
    (solo,) = alone.values()
    ref = next(e for k, e in first.items() if k[0] == "2")
    assert [t.score for t in solo.tokens] == pytest.approx([t.score for t in ref.tokens], abs=1e-7)
    other_seed = by_key(explain_reviews(tiny_lm, reviews(), make_settings(["sg"], options={"seed": 8, "samples": 8})))
    assert any(
        [t.score for t in e.tokens] != [t.score for t in other_seed[k].tokens] for k, e in first.items()
    )


def test_noise_free_smoothgrad_is_gradient_x_input(tiny_lm):
    sg = by_key(explain_reviews(tiny_lm, reviews(), make_settings(["sg"], options={"noise": 0.0, "samples": 3})))
    gxi = by_key(explain_reviews(tiny_lm, reviews(), make_settings(["gxi"])))
    for (rid, _, t), e in sg.items():
        ref = gxi[(rid, "gradient-x-input", t)]
        assert [x.score for x in e.tokens] == pytest.approx([x.score for x in ref.tokens], abs=1e-7)


def test_targets_predicted_named_and_all(tiny_lm):
    ex = explain_reviews(tiny_lm, reviews(TEXTS[:1]), make_settings(["gxi"], target=["predicted", "positive", "all"]))
    targets = [e.target.index for e in ex]
    assert targets[0] == ex[0].prediction.index
    assert sorted(targets) == [0, 1, 2] and len(set(targets)) == 3
    assert ex[0].prediction.probs and math.isclose(sum(ex[0].prediction.probs.values()), 1.0, rel_tol=1e-5)


def test_targets_sharing_a_forward_equal_each_target_alone(tiny_lm):
    """Several targets of a review share each point's forward pass; every target's scores must equal
    a run that asks for that target alone, also when reviews have different numbers of targets."""
    # The random tiny model predicts one label for everything; centring its logits on these
    # reviews' medians makes the predictions differ between reviews.
    model = copy.deepcopy(tiny_lm.model)
    with torch.no_grad():
        logits = model(**tiny_lm.tokenizer(CORPUS, padding=True, return_tensors="pt")).logits
        model.classifier.bias.sub_(logits.median(0).values)
    lm = tiny_lm.with_model(model)
    methods = ["ig", "sg"]
    rows = reviews(CORPUS)
    both = by_key(explain_reviews(lm, rows, make_settings(methods, target=["predicted", "neutral"])))
    counts: dict[str, int] = {}
    for rid, _, _ in both:
        counts[rid] = counts.get(rid, 0) + 1
    assert set(counts.values()) == {2, 4}  # one target where "neutral" is predicted, else two
    for label in ("negative", "neutral", "positive"):
        alone = by_key(explain_reviews(lm, rows, make_settings(methods, target=[label])))
        for key, e in alone.items():
            if key in both:
                a = [t.score for t in e.tokens]
                b = [t.score for t in both[key].tokens]
                assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-6 * max(1.0, max(map(abs, a))), key


def test_truncation_is_flagged_with_dropped_count(tiny_lm):
    long_text = " ".join(["great"] * 200)
    [[enc]] = encode(tiny_lm, [Review("1", long_text, 1)])
    assert enc.length == tiny_lm.max_length
    full = len(tiny_lm.tokenizer(long_text, add_special_tokens=False)["input_ids"])
    assert enc.dropped == full - (tiny_lm.max_length - 2)
    (e,) = explain_reviews(tiny_lm, [Review("1", long_text, 1)], make_settings(["grad"]))
    assert e.truncated and e.dropped_tokens == enc.dropped


def test_small_memory_budget_gives_same_scores(tiny_lm):
    big = by_key(explain_reviews(tiny_lm, reviews(), make_settings(["ig"], options={"steps": 16})))
    small = by_key(explain_reviews(tiny_lm, reviews(), make_settings(["ig"], options={"steps": 16}, max_memory=1 << 20)))
    for key, e in big.items():
        assert [t.score for t in e.tokens] == pytest.approx([t.score for t in small[key].tokens], abs=1e-7)


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


def test_bfloat16_autocast_stays_close_to_float32(tiny_lm):
    from saliency_cli.engine.precision import resolve_dtype

    fp32 = by_key(explain_reviews(tiny_lm, reviews(), make_settings(["ig"], options={"steps": 16}, attribute="logit")))
    bf16 = by_key(explain_reviews(tiny_lm, reviews(), make_settings(["ig"], options={"steps": 16}, attribute="logit",
                                                                    dtype="bfloat16")))
    for key, e in fp32.items():
        a = [t.score for t in e.tokens]
        b = [t.score for t in bf16[key].tokens]
        scale = max(abs(x) for x in a)
        assert max(abs(x - y) for x, y in zip(a, b)) <= 0.1 * scale
    # auto follows the hardware fact read at model load
    assert resolve_dtype("auto", dataclasses.replace(tiny_lm, fast_bf16=True)) == "bfloat16"
    assert resolve_dtype("auto", dataclasses.replace(tiny_lm, fast_bf16=False)) == "float32"
    assert resolve_dtype("BFloat16", tiny_lm) == "bfloat16"
    with pytest.raises(ValueError, match="float16 is not supported on CPU"):
        resolve_dtype("float16", tiny_lm)


def test_bfloat16_on_cpu_uses_the_lean_attention_and_restores_the_model(tiny_lm, monkeypatch):
    import saliency_cli.engine.precision as engine
    from saliency_cli.model.attention import NAME as LEAN

    assert tiny_lm.model.config._attn_implementation == "sdpa"
    assert engine.attention_for(tiny_lm, "bfloat16", 4) == engine.attention_for(tiny_lm, "bfloat16", 500) == LEAN
    assert engine.attention_for(tiny_lm, "float32", 4) == "sdpa"
    # without the lean kernel: eager while 2 heads x length <= 0.025 x 32^2 (hidden 32), i.e. up to 12 tokens
    no_lean = dataclasses.replace(tiny_lm, variants={"eager": tiny_lm.variants["eager"]})
    assert engine.attention_for(no_lean, "bfloat16", 12) == "eager"
    assert engine.attention_for(no_lean, "bfloat16", 13) == "sdpa"
    # the lean kernel keeps its probabilities for the backward pass: the memory estimate counts them
    assert engine.row_bytes(tiny_lm, "bfloat16", 12) > engine.row_bytes(tiny_lm, "float32", 12)

    seen = []
    real_forward = type(tiny_lm.model).forward

    def spy(self, *args, **kwargs):
        seen.append((self.config._attn_implementation, kwargs["inputs_embeds"].shape[1]))
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(type(tiny_lm.model), "forward", spy)
    texts = ["great", "Works as described, arrived on time, good value for money and I would buy it again."]
    settings = make_settings(["ig"], options={"steps": 4}, attribute="logit", dtype="bfloat16", batch_size=1)
    bf16 = by_key(explain_reviews(tiny_lm, reviews(texts), settings))
    assert {impl for impl, _ in seen} == {LEAN}
    assert tiny_lm.model.config._attn_implementation == "sdpa"  # restored
    monkeypatch.undo()
    fp32 = by_key(explain_reviews(tiny_lm, reviews(texts), make_settings(["ig"], options={"steps": 4}, attribute="logit")))
    for key, e in fp32.items():
        a = [t.score for t in e.tokens]
        b = [t.score for t in bf16[key].tokens]
        assert max(abs(x - y) for x, y in zip(a, b)) <= 0.1 * max(abs(x) for x in a)


def test_adaptive_ig_adds_steps_until_delta_is_under_tolerance(tiny_lm):
    from saliency_cli.methods.integrated_gradients import needs_more_steps as gap_too_large

    def needs_more_steps(e, tolerance):
        return gap_too_large([t.score for t in e.tokens], e.delta, tolerance)

    base = {"steps": 2, "ig_rule": "riemann-left"}
    coarse = explain_reviews(tiny_lm, reviews(), make_settings(["ig"], options=base, attribute="logit"))
    assert any(needs_more_steps(e, 0.02) for e in coarse)
    adaptive = explain_reviews(tiny_lm, reviews(), make_settings(
        ["ig"], options={**base, "ig_tolerance": 0.02, "ig_max_steps": 1024}, attribute="logit"))
    assert [e.id for e in adaptive] == [e.id for e in coarse]
    for before, after in zip(coarse, adaptive):
        steps = after.params["steps"]
        assert steps & (steps - 1) == 0 and 2 <= steps <= 1024
        # The contract: under the tolerance, or stopped at the step limit.
        assert not needs_more_steps(after, 0.02) or steps == 1024
        if needs_more_steps(before, 0.02):
            assert steps > 2 and abs(after.delta) < abs(before.delta)
        else:
            assert steps == 2


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


def test_out_of_memory_halves_the_chunk_and_retries(tiny_lm, monkeypatch):
    settings = make_settings(["ig", "grad"], options={"steps": 16}, max_memory=64 << 20)
    reference = by_key(explain_reviews(tiny_lm, reviews(), settings))
    real_forward = type(tiny_lm.model).forward
    sizes = []

    def forward_with_small_memory(self, *args, **kwargs):
        rows = kwargs["inputs_embeds"].shape[0]
        sizes.append(rows)
        if rows > 2:
            raise torch.OutOfMemoryError("simulated: out of memory")
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(type(tiny_lm.model), "forward", forward_with_small_memory)
    retried = by_key(explain_reviews(tiny_lm, reviews(), settings))
    assert max(sizes) > 2 and any(s <= 2 for s in sizes)
    for key, e in reference.items():
        assert [t.score for t in e.tokens] == pytest.approx([t.score for t in retried[key].tokens], abs=1e-7)

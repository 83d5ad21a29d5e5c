"""The forward-only executor (perturbed copies, shared and chunked under the budget), the feature
units perturbation methods remove, and the per-batch core that every runner calls."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from saliency_cli.engine import Outcome, explain_batch, forward, prepare
from saliency_cli.engine import budget as budget_module
from saliency_cli.engine.budget import inference_bytes_per_row
from saliency_cli.engine.encoding import Encoded, encode, features
from saliency_cli.methods.occlusion import Occlusion
from saliency_cli.records import Review, RowError
from saliency_cli.settings import make_settings

SUBWORDS = "unbelievably awesome xylophone"  # the tiny tokenizer cuts each word into several pieces
TEXTS = [
    "Not buying it any sooner! Other brands do a much better job",
    SUBWORDS,
    "Great phone, terrible battery.",
    "The screen is bright and the sound is excellent, but the battery is awful and the case cracked.",
]


@pytest.fixture(scope="module")
def lm(sharp_lm):
    return sharp_lm


@pytest.fixture
def forwards(lm, monkeypatch):
    """Record (rows, length) of every model forward on token ids."""
    seen: list[tuple[int, int]] = []
    real = type(lm.model).forward

    def spy(self, *args, **kwargs):
        if kwargs.get("input_ids") is not None:
            seen.append(tuple(kwargs["input_ids"].shape))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(lm.model), "forward", spy)
    return seen


def encoded(lm, text: str) -> Encoded:
    [[enc]] = encode(lm, [Review("1", text, 1)])
    return enc


def direct(lm, ids, attribute="probability"):
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = lm.model(input_ids=x, attention_mask=torch.ones_like(x)).logits.float()[0]
    return (torch.softmax(logits, -1) if attribute == "probability" else logits).double().numpy()


def occlusion_masks(n: int) -> np.ndarray:
    return Occlusion().masks(n, {}, "")


def test_identical_copies_run_once_across_requests(lm, forwards):
    enc = encoded(lm, TEXTS[0])
    feats = features(enc, "word")
    n = len(feats)
    assert n == 13
    keep_all = np.ones(n, dtype=bool)
    drop0 = keep_all.copy()
    drop0[0] = False
    drop01 = drop0.copy()
    drop01[1] = False
    occ = forward.Copies(enc, feats, occlusion_masks(n), "mask")  # 1 + n copies
    overlap = forward.Copies(enc, feats, np.stack([keep_all, drop0, drop01, drop01]), "mask")  # 1 new copy
    # deleting changes every copy but the untouched one, which is the same ids as above
    deleted = forward.Copies(enc, feats, occlusion_masks(n), "delete")  # n new copies
    settings = make_settings(["occlusion"], attribute="logit")
    a, b, c = forward.run_copies(lm, [occ, overlap, deleted], settings, 1 << 30)
    assert sum(rows for rows, _ in forwards) == (1 + n) + 1 + n
    assert a.shape == (1 + n, 3) and b.shape == (4, 3) and c.shape == (1 + n, 3)
    assert a.dtype == np.float64
    np.testing.assert_array_equal(b[0], a[0])
    np.testing.assert_array_equal(b[1], a[1])
    np.testing.assert_array_equal(b[2], b[3])
    np.testing.assert_array_equal(c[0], a[0])
    # and every row is the model's output on that copy
    mask_id = lm.tokenizer.mask_token_id
    ids = enc.input_ids
    both = [mask_id if p in (feats[0] + feats[1]) else t for p, t in enumerate(ids)]
    # (float32 logits of magnitude ~1: 5e-6 is a few times the noise of padding and batching)
    np.testing.assert_allclose(a[0], direct(lm, ids, "logit"), rtol=0, atol=5e-6)
    np.testing.assert_allclose(b[2], direct(lm, both, "logit"), rtol=0, atol=5e-6)
    for f, positions in enumerate(feats):
        kept = [t for p, t in enumerate(ids) if p not in positions]
        np.testing.assert_allclose(c[1 + f], direct(lm, kept, "logit"), rtol=0, atol=5e-6)
    assert np.abs(c[1:] - a[1:]).max() > 1e-3  # delete and mask copies really are different inputs


def test_requests_of_different_reviews_do_not_share_copies(lm, forwards):
    e1, e2 = encoded(lm, TEXTS[2]), encoded(lm, TEXTS[1])
    f1, f2 = features(e1, "word"), features(e2, "word")
    reqs = [forward.Copies(e, f, occlusion_masks(len(f)), "mask") for e, f in ((e1, f1), (e2, f2))]
    r1, r2 = forward.run_copies(lm, reqs, make_settings(["occlusion"]), 1 << 30)
    assert sum(rows for rows, _ in forwards) == (1 + len(f1)) + (1 + len(f2))
    np.testing.assert_allclose(r1[0], direct(lm, e1.input_ids), rtol=0, atol=1e-6)
    np.testing.assert_allclose(r2[0], direct(lm, e2.input_ids), rtol=0, atol=1e-6)
    assert r1.sum(1) == pytest.approx(np.ones(len(r1)), abs=1e-6)  # probabilities by default


def _requests(lm):
    reqs = []
    for enc in (encoded(lm, t) for t in TEXTS):
        for unit in ("word", "token"):
            f = features(enc, unit)
            reqs.append(forward.Copies(enc, f, occlusion_masks(len(f)), "delete" if unit == "token" else "mask"))
    return reqs


def test_results_do_not_depend_on_the_budget_and_chunks_respect_it(lm, forwards, monkeypatch):
    encs = [encoded(lm, t) for t in TEXTS]
    reqs = _requests(lm)
    settings = make_settings(["occlusion"])
    with monkeypatch.context() as m:
        m.setattr(budget_module, "INFERENCE_TOKENS", 1 << 30)  # the budget alone decides
        large = forward.run_copies(lm, reqs, settings, 1 << 30)
    # everything would fit in one chunk; the plan cuts only where a longer length begins
    assert 1 <= len(forwards) <= len({length for _, length in forwards})
    unique_rows = sum(rows for rows, _ in forwards)
    forwards.clear()
    tiny = forward.run_copies(lm, reqs, settings, 1)
    assert len(forwards) == unique_rows and {rows for rows, _ in forwards} == {1}  # one row per chunk at least
    longest = max(e.length for e in encs)
    budget = 5 * inference_bytes_per_row(lm.model.config, longest)
    forwards.clear()
    small = forward.run_copies(lm, reqs, settings, budget)
    assert len(forwards) > 1 and sum(rows for rows, _ in forwards) == unique_rows
    for rows, length in forwards:
        assert rows * inference_bytes_per_row(lm.model.config, length) <= budget
    assert max(rows for rows, _ in forwards) > 5  # short copies pack more rows than the longest
    for a, b, c in zip(large, tiny, small):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
        np.testing.assert_allclose(c, a, rtol=0, atol=1e-6)


def test_cpu_inference_chunks_are_capped_in_tokens(lm, forwards, monkeypatch):
    """On CPU a forward-only chunk holds at most INFERENCE_TOKENS tokens (rows x padded length)
    whatever the budget, and the values do not change."""
    reqs = _requests(lm)
    settings = make_settings(["occlusion"])
    with monkeypatch.context() as m:
        m.setattr(budget_module, "INFERENCE_TOKENS", 1 << 30)
        whole = forward.run_copies(lm, reqs, settings, 1 << 30)
    forwards.clear()
    monkeypatch.setattr(budget_module, "INFERENCE_TOKENS", 64)
    capped = forward.run_copies(lm, reqs, settings, 1 << 30)
    assert len(forwards) > 1
    assert all(rows * length <= 64 or rows == 1 for rows, length in forwards)
    for a, b in zip(whole, capped):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)


def test_perturbed_delete_drops_tokens_and_keeps_special_ones(lm):
    enc = encoded(lm, SUBWORDS)
    feats = features(enc, "word")
    keep = np.array([True, False, True])
    c = forward.Copies(enc, feats, keep[None], "delete")
    ids, types = forward.perturbed(lm, c, keep)
    assert len(ids) == enc.length - len(feats[1]) == enc.length - 5
    assert ids == [t for p, t in enumerate(enc.input_ids) if p not in feats[1]]
    assert types is None and enc.token_type_ids is None  # this tokenizer gives no token types
    assert ids[0] == lm.tokenizer.cls_token_id and ids[-1] == lm.tokenizer.sep_token_id
    nothing, _ = forward.perturbed(lm, c, np.zeros(3, dtype=bool))
    assert nothing == [lm.tokenizer.cls_token_id, lm.tokenizer.sep_token_id]


@pytest.mark.parametrize("kind", ["mask", "pad", "unk"])
def test_perturbed_replacement_keeps_the_length(lm, kind):
    enc = encoded(lm, SUBWORDS)
    feats = features(enc, "word")
    keep = np.array([False, True, False])
    ids, types = forward.perturbed(lm, forward.Copies(enc, feats, keep[None], kind), keep)
    token = getattr(lm.tokenizer, f"{kind}_token_id")
    gone = set(feats[0] + feats[2])
    assert len(ids) == enc.length and types is None
    assert ids == [token if p in gone else t for p, t in enumerate(enc.input_ids)]
    assert forward.replacement_id(lm, kind) == token
    assert forward.replacement_id(lm, "delete") is None


def test_word_features_group_sub_word_tokens_and_skip_special_tokens(lm):
    enc = encoded(lm, SUBWORDS)
    assert enc.length == 23 and enc.special[0] and enc.special[-1]
    assert features(enc, "word") == [list(range(1, 11)), list(range(11, 16)), list(range(16, 22))]
    assert features(enc, "token") == [[p] for p in range(1, 22)]
    for text in TEXTS + ["isn't it the worst? it's fine, 100% sure :)"]:
        enc = encoded(lm, text)
        for unit in ("word", "token"):
            groups = features(enc, unit)
            flat = [p for g in groups for p in g]
            assert flat == [p for p in range(enc.length) if not enc.special[p]]  # all of them, in order, once
        assert [enc.word_ids[g[0]] for g in features(enc, "word")] == list(range(len(features(enc, "word"))))


# [CLS] a ##b c [SEP] d ##e [SEP]: word ids restart in the second segment, and a special token
# between two tokens with the same word id still separates them.
PAIR = Encoded(
    review=Review("1", "ab c / de", 1),
    input_ids=[2, 10, 11, 12, 3, 13, 14, 3],
    token_type_ids=[0, 0, 0, 0, 0, 1, 1, 1],
    offsets=[(0, 0), (0, 1), (1, 2), (3, 4), (0, 0), (7, 8), (8, 9), (0, 0)],
    special=[True, False, False, False, True, False, False, True],
    word_ids=[None, 0, 0, 1, None, 1, 1, None],
    dropped=0,
)


def test_word_features_of_a_handcrafted_pair_encoding():
    assert features(PAIR, "word") == [[1, 2], [3], [5, 6]]
    assert features(PAIR, "token") == [[1], [2], [3], [5], [6]]


def test_perturbed_token_types_follow_the_ids(lm):
    feats = features(PAIR, "word")
    keep = np.array([False, True, False])
    ids, types = forward.perturbed(lm, forward.Copies(PAIR, feats, keep[None], "delete"), keep)
    assert (ids, types) == ([2, 12, 3, 3], [0, 0, 0, 1])
    mask = lm.tokenizer.mask_token_id
    ids, types = forward.perturbed(lm, forward.Copies(PAIR, feats, keep[None], "mask"), keep)
    assert (ids, types) == ([2, mask, mask, 12, 3, mask, mask, 3], PAIR.token_type_ids)


def _scores(outcome: Outcome) -> dict[tuple[str, int], list[float]]:
    return {(e.method, e.target.index): [t.score for t in e.tokens] for e in outcome.explanations}


def test_explain_batch_keeps_input_order_and_passes_row_errors_through(lm):
    settings = make_settings(["grad", "occlusion", "ig"], options={"steps": 4}, target=["all"], attribute="logit")
    ctx = prepare(lm, settings)
    assert [(r.method.name, r.params["baseline"]) for r in ctx.settings.methods if "baseline" in r.params] == [
        ("occlusion", "mask"), ("integrated-gradients", "pad")]
    bad = RowError(7, "x", "malformed row")
    items = [
        Review("a", TEXTS[3], 1), bad, Review("b", TEXTS[1], 2), Review("c", "", 3), Review("d", TEXTS[2], 4),
    ]
    results = explain_batch(ctx, items)
    assert len(results) == len(items)
    assert results[1] is bad
    assert isinstance(results[3], RowError) and (results[3].row, results[3].id) == (3, "c")
    assert "no tokens" in results[3].error
    for i in (0, 2, 4):
        out = results[i]
        assert isinstance(out, Outcome) and out.review is items[i]
        assert [(e.method, e.target.index) for e in out.explanations] == [
            (m, t) for m in ("gradient", "occlusion", "integrated-gradients") for t in range(3)]
        assert {e.id for e in out.explanations} == {items[i].id}
        # each review's results are those of the review explained alone
        (alone,) = explain_batch(ctx, [items[i]])
        got, ref = _scores(out), _scores(alone)
        assert got.keys() == ref.keys()
        for key in ref:
            scale = max(1.0, max(map(abs, ref[key])))  # gradient norms of this model reach ~40
            assert got[key] == pytest.approx(ref[key], abs=5e-6 * scale), key
    assert explain_batch(ctx, []) == []
    assert explain_batch(ctx, [bad]) == [bad]

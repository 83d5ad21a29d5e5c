"""Occlusion against an independent computation: every word (or token) replaced in turn, the model
run directly on the token ids, F(x) - F(x without it) compared with what the engine reports."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from saliency_cli.engine import forward
from saliency_cli.runners.local import explain_reviews
from saliency_cli.inputs import texts_to_reviews
from saliency_cli.records import Review
from saliency_cli.settings import SettingError, make_settings
from tests.factories import sharpened

TEXTS = [
    "Not buying it any sooner! Other brands do a much better job",
    "unbelievably awesome xylophone",  # the tiny tokenizer cuts each of these words into several pieces
    "Great phone, terrible battery.",
    "isn't it the worst? it's fine, 100% sure :)",
]
# Float32 noise of the model's outputs (different padding, chunking and kernels): measured at most
# 4e-7 on probabilities and 1.5e-6 on logits (of magnitude up to ~1.5) over many builds of the tiny model.
TOL = {"probability": 1e-6, "logit": 5e-6}


@pytest.fixture(scope="module")
def lm(sharp_lm):
    return sharp_lm


def reviews(texts=TEXTS):
    return texts_to_reviews(texts)


def by_key(explanations):
    return {(e.id, e.method, e.target.index): e for e in explanations}


def tokenized(lm, text):
    """Token ids and the positions of each word (non-special tokens grouped by the tokenizer's word ids)."""
    enc = lm.tokenizer(text, return_special_tokens_mask=True)
    ids = list(enc["input_ids"])
    words: dict[int, list[int]] = {}
    for pos, (wid, special) in enumerate(zip(enc.word_ids(), enc["special_tokens_mask"])):
        if not special and wid is not None:
            words.setdefault(wid, []).append(pos)
    return ids, enc["special_tokens_mask"], [words[w] for w in sorted(words)]


def outputs(lm, ids, attribute):
    """F for every label on one sequence of token ids, straight from the model."""
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = lm.model(input_ids=x, attention_mask=torch.ones_like(x)).logits.float()[0]
    return (torch.softmax(logits, -1) if attribute == "probability" else logits).double()


def without(ids, positions, replacement):
    """``ids`` with ``positions`` replaced by ``replacement`` (a token id), or removed (None)."""
    if replacement is None:
        return [t for i, t in enumerate(ids) if i not in set(positions)]
    return [replacement if i in set(positions) else t for i, t in enumerate(ids)]


def direct_scores(lm, text, groups, target, attribute, replacement):
    ids, _, _ = tokenized(lm, text)
    full = outputs(lm, ids, attribute)[target]
    return [float(full - outputs(lm, without(ids, g, replacement), attribute)[target]) for g in groups]


def group_sums(e, groups):
    return [sum(e.tokens[p].score for p in g) for g in groups]


@pytest.mark.parametrize("attribute", ["probability", "logit"])
@pytest.mark.parametrize("targets", [["predicted"], ["all"]])
def test_word_scores_equal_direct_leave_one_out(lm, attribute, targets):
    ex = explain_reviews(lm, reviews(), make_settings(["occlusion"], target=targets, attribute=attribute))
    assert len(ex) == len(TEXTS) * (1 if targets == ["predicted"] else len(lm.labels))
    mask_id = lm.tokenizer.mask_token_id
    for e in ex:
        ids, _, words = tokenized(lm, e.text)
        probs = outputs(lm, ids, "probability")
        if targets == ["predicted"]:
            assert e.target.index == int(probs.argmax())
        expected = direct_scores(lm, e.text, words, e.target.index, attribute, mask_id)
        assert group_sums(e, words) == pytest.approx(expected, abs=TOL[attribute])
        # the records' words are the tokenizer's words, each with its occlusion score
        assert [w.score for w in e.words] == pytest.approx(expected, abs=TOL[attribute])
        assert e.method == "occlusion" and e.attribute == attribute and e.delta is None
    if targets == ["all"]:
        assert sorted((e.id, e.target.index) for e in ex) == [(str(i), t) for i in range(1, 5) for t in range(3)]
    # the scores are far from zero: the comparison above has something to compare
    assert max(abs(w.score) for e in ex for w in e.words) > 0.02


def test_a_words_score_is_shared_by_its_sub_word_tokens(lm):
    text = TEXTS[1]
    ids, _, words = tokenized(lm, text)
    assert [len(g) for g in words] == [10, 5, 6]  # the text really has multi-token words
    (e,) = explain_reviews(lm, reviews([text]), make_settings(["occlusion"], attribute="logit"))
    expected = direct_scores(lm, text, words, e.target.index, "logit", lm.tokenizer.mask_token_id)
    for g, score in zip(words, expected):
        assert [e.tokens[p].score for p in g] == pytest.approx([score / len(g)] * len(g), abs=TOL["logit"])


@pytest.mark.parametrize("attribute", ["probability", "logit"])
def test_token_features_score_each_token_alone(lm, attribute):
    settings = make_settings(["occlusion"], options={"features": "token"}, target=["all"], attribute=attribute)
    ex = explain_reviews(lm, reviews(TEXTS[:3]), settings)
    for e in ex:
        assert e.params["features"] == "token"
        ids, special, words = tokenized(lm, e.text)
        positions = [[p] for p in range(len(ids)) if not special[p]]
        expected = direct_scores(lm, e.text, positions, e.target.index, attribute, lm.tokenizer.mask_token_id)
        assert len(e.tokens) == len(ids)
        assert [e.tokens[p].score for (p,) in positions] == pytest.approx(expected, abs=TOL[attribute])
        # a word's score is the sum of its tokens' scores
        assert [w.score for w in e.words] == pytest.approx(group_sums(e, words), abs=1e-12)
    # Token occlusion is not word occlusion: on the multi-token words the two differ.
    word_run = by_key(explain_reviews(lm, reviews(TEXTS[1:2]), make_settings(["occlusion"], attribute=attribute)))
    token_run = by_key(explain_reviews(lm, reviews(TEXTS[1:2]), make_settings(
        ["occlusion"], options={"features": "token"}, attribute=attribute)))
    (key,) = word_run
    assert max(abs(a.score - b.score) for a, b in zip(word_run[key].words, token_run[key].words)) > 1e-6


@pytest.mark.parametrize("baseline", ["pad", "unk", "delete", "mask"])
def test_each_baseline_matches_a_direct_computation_and_is_recorded(lm, baseline):
    tok = lm.tokenizer
    replacement = {"pad": tok.pad_token_id, "unk": tok.unk_token_id, "mask": tok.mask_token_id, "delete": None}[baseline]
    settings = make_settings(["occlusion"], options={"baseline": baseline}, target=["all"], attribute="logit")
    ex = explain_reviews(lm, reviews(TEXTS[:3]), settings)
    for e in ex:
        assert e.params["baseline"] == baseline
        _, _, words = tokenized(lm, e.text)
        expected = direct_scores(lm, e.text, words, e.target.index, "logit", replacement)
        assert [w.score for w in e.words] == pytest.approx(expected, abs=TOL["logit"])


def test_baselines_give_different_scores(lm):
    runs = {
        b: [w.score for e in explain_reviews(lm, reviews(TEXTS[:1]), make_settings(
            ["occlusion"], options={"baseline": b}, attribute="logit")) for w in e.words]
        for b in ("mask", "pad", "unk", "delete")
    }
    values = list(runs.values())
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            assert max(abs(a - b) for a, b in zip(values[i], values[j])) > 1e-6


def test_default_baseline_is_the_mask_token_and_is_recorded(lm):
    (e,) = explain_reviews(lm, reviews(TEXTS[:1]), make_settings(["occlusion"]))
    assert e.params == {"baseline": "mask", "features": "word"}
    # integrated gradients keeps its own default when both run without --baseline
    ig, occ = explain_reviews(lm, reviews(TEXTS[:1]), make_settings(["ig", "occlusion"], options={"steps": 4}))
    assert (ig.method, ig.params["baseline"]) == ("integrated-gradients", "pad")
    assert (occ.method, occ.params["baseline"]) == ("occlusion", "mask")


class _Tokenizer:
    """The tiny tokenizer with some of its special tokens hidden (nothing of the real one is changed)."""

    def __init__(self, real, **hidden):
        self._real = real
        self._hidden = hidden

    def __call__(self, *args, **kwargs):
        return self._real(*args, **kwargs)

    def __getattr__(self, name):
        if name in self._hidden:
            return self._hidden[name]
        return getattr(self._real, name)


def test_masks_keep_the_review_then_drop_each_feature_once():
    from saliency_cli.methods import get_method

    m = get_method("occlusion").masks(3, {}, "text")
    assert m.dtype == bool and m.tolist() == [[True] * 3, [False, True, True], [True, False, True], [True, True, False]]


def test_default_replacement_order():
    def lm(**ids):
        return SimpleNamespace(tokenizer=SimpleNamespace(**{f"{k}_token_id": ids.get(k) for k in ("mask", "unk", "pad")}))

    assert forward.default_replacement(lm(mask=4, unk=1, pad=0)) == "mask"
    assert forward.default_replacement(lm(unk=1, pad=0)) == "unk"
    assert forward.default_replacement(lm(unk=0)) == "unk"  # id 0 is a token, not a missing one
    assert forward.default_replacement(lm(pad=0)) == "pad"
    assert forward.default_replacement(lm()) == "delete"


def test_tokenizer_without_mask_token_falls_back_to_unk(lm):
    tok = lm.tokenizer
    no_mask = dataclasses.replace(lm, tokenizer=_Tokenizer(tok, mask_token=None, mask_token_id=None))
    assert forward.default_replacement(no_mask) == "unk"
    assert forward.default_replacement(lm) == "mask"
    (e,) = explain_reviews(no_mask, reviews(TEXTS[:1]), make_settings(["occlusion"], attribute="logit"))
    assert e.params["baseline"] == "unk"
    _, _, words = tokenized(lm, e.text)
    expected = direct_scores(lm, e.text, words, e.target.index, "logit", tok.unk_token_id)
    assert [w.score for w in e.words] == pytest.approx(expected, abs=TOL["logit"])
    # asking for the missing token is an error before anything runs
    with pytest.raises(ValueError, match="no mask token"):
        explain_reviews(no_mask, reviews(TEXTS[:1]), make_settings(["occlusion"], options={"baseline": "mask"}))


@pytest.mark.parametrize("features", ["word", "token"])
def test_special_tokens_score_exactly_zero(lm, features):
    ex = explain_reviews(lm, reviews(), make_settings(["occlusion"], options={"features": features}, target=["all"]))
    for e in ex:
        specials = [t for t in e.tokens if t.special]
        assert [t.token for t in specials] == ["[CLS]", "[SEP]"]
        assert all(t.score == 0.0 for t in specials)
        assert any(t.score != 0.0 for t in e.tokens if not t.special)


def test_batch_size_and_company_never_change_a_score(lm):
    texts = TEXTS + ["Works as described.", "The screen is bright and the sound is excellent, but the battery is awful."]
    runs = {
        bs: by_key(explain_reviews(lm, reviews(texts), make_settings(["occlusion"], target=["all"], batch_size=bs)))
        for bs in (1, 2, 16)
    }
    ref = runs[16]
    assert len(ref) == len(texts) * 3
    for bs in (1, 2):
        assert runs[bs].keys() == ref.keys()
        for key, e in ref.items():
            assert [t.score for t in runs[bs][key].tokens] == pytest.approx([t.score for t in e.tokens], abs=TOL["probability"])
    for i, text in enumerate(texts, start=1):
        alone = explain_reviews(lm, [Review(str(i), text, i)], make_settings(["occlusion"], target=["all"]))
        for e in alone:
            together = ref[(str(i), "occlusion", e.target.index)]
            assert [t.score for t in e.tokens] == pytest.approx([t.score for t in together.tokens], abs=TOL["probability"])


@pytest.mark.parametrize("option,value", [("baseline", "zero"), ("features", "sentence"), ("baseline", "random")])
def test_invalid_options_are_rejected_naming_the_option(option, value):
    with pytest.raises(ValueError, match=f"^{option}: .*{value}") as info:
        make_settings(["occlusion"], options={option: value})
    assert isinstance(info.value, SettingError) and info.value.option == option


@pytest.mark.parametrize("arch", ["roberta", "xlm-roberta"])
def test_word_records_hold_the_whole_word_score_with_space_marker_tokens(tiny_model_dir, arch):
    from saliency_cli.model.loading import load_model

    other = sharpened(load_model(str(tiny_model_dir(arch)), device="cpu"))
    text = TEXTS[0]
    enc = other.tokenizer(text, return_offsets_mapping=True)
    pieces = other.tokenizer.convert_ids_to_tokens(enc["input_ids"])
    # the text has a word led by a bare space-marker piece with no text of its own
    assert any(p in ("Ġ", "▁") and not text[a:b].strip() for p, (a, b) in zip(pieces, enc["offset_mapping"]))
    (e,) = explain_reviews(other, reviews([text]), make_settings(["occlusion"], attribute="logit"))
    _, _, words = tokenized(other, text)
    expected = direct_scores(other, text, words, e.target.index, "logit", other.tokenizer.mask_token_id)
    assert group_sums(e, words) == pytest.approx(expected, abs=TOL["logit"])  # the engine's per-token shares are right
    assert max(map(abs, expected)) > 0.01
    assert [w.score for w in e.words] == pytest.approx(expected, abs=TOL["logit"])  # ...but the word records lose a share

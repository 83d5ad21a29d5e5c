"""Subword-to-word merging and normalisation views."""

from __future__ import annotations

import pytest

from saliency_cli.engine.scores import build_scores, merge_words, normalize, trim_span


def test_normalize_modes_ignore_special_tokens():
    scores, special = [5.0, -1.0, 3.0, 9.0], [True, False, False, True]
    assert normalize(scores, special, "none") == scores
    l1 = normalize(scores, special, "l1")
    assert l1[1] == pytest.approx(0.25) and l1[2] == pytest.approx(0.75)
    mx = normalize(scores, special, "max")
    assert mx[1] == pytest.approx(-1 / 3) and mx[2] == pytest.approx(1.0)
    assert normalize([0.0, 0.0], [False, False], "l1") == [0.0, 0.0]
    with pytest.raises(ValueError):
        normalize(scores, special, "softmax")


def test_merge_words_sums_subwords_and_spans_text():
    # the text: "unbelievable job"
    #         CLS   un    ##believ  ##able  job   SEP
    raw = [0.5, 1.0, 2.0, -0.5, 4.0, 0.7]
    starts = [0, 0, 2, 9, 13, 0]
    ends = [0, 2, 9, 12, 16, 0]
    special = [True, False, False, False, False, True]
    word_ids = [None, 0, 0, 0, 1, None]
    assert merge_words(raw, starts, ends, special, word_ids) == [(0, 12, 2.5), (13, 16, 4.0)]


def test_build_scores_trims_spaces_in_offsets():
    text = "not good"
    tokens, words = build_scores(
        text, ["[CLS]", "not", "▁good", "[SEP]"], [0.0, 1.0, -2.0, 0.0], [0, 0, 3, 0], [0, 3, 8, 0],
        [True, False, False, True], [None, 0, 1, None], "none",
    )
    assert [(w.word, w.score) for w in words] == [("not", 1.0), ("good", -2.0)]
    assert (tokens[2].start, tokens[2].end) == (4, 8)
    assert trim_span("  a ", 0, 4) == (2, 3)


def test_word_normalisation_uses_word_totals():
    tokens, words = build_scores(
        "ab c", ["a", "##b", "c"], [1.0, 1.0, -2.0], [0, 1, 3], [1, 2, 4], [False] * 3, [0, 0, 1], "l1"
    )
    assert [w.score for w in words] == pytest.approx([0.5, 0.5])
    assert sum(t.score for t in tokens) == pytest.approx(1.0)


def _window(text, pieces, word_ids, delta):
    """A window's raw explanation: (token, start, end, score) pieces between [CLS] and [SEP]."""
    from saliency_cli.records import Explanation, Prediction, Target

    special = [True] + [False] * len(pieces) + [True]
    raw = [0.0] + [p[3] for p in pieces] + [0.0]
    starts = [0] + [p[1] for p in pieces] + [0]
    ends = [0] + [p[2] for p in pieces] + [0]
    tokens, words = build_scores(text, ["[CLS]", *(p[0] for p in pieces), "[SEP]"], raw, starts, ends, special,
                                 [None, *word_ids, None], "none")
    return Explanation("1", text, "m", "gradient", {}, Prediction("a", 0, {"a": 1.0}), Target("a", 0), tokens, words,
                       delta=delta), (list(zip(starts, ends)), special, [None, *word_ids, None])


def test_stitched_windows_keep_whole_words_where_a_window_cuts_one():
    """Windows start and end at tokens, not words: a word cut at a window's edge is taken from a window
    that holds it whole, or, cut in every window, is the sum of its tokens; never a piece of a word."""
    from saliency_cli.engine.scores import stitch_windows, word_spans

    text = "one twoooo three four five"
    a = _window(text, [("one", 0, 3, 1.0), ("two", 4, 7, 2.0)], [0, 1], 0.5)
    b = _window(text, [("##ooo", 7, 10, 3.0), ("three", 11, 16, 4.0), ("four", 17, 21, 5.0)], [1, 2, 3], -7.0)
    c = _window(text, [("three", 11, 16, 40.0), ("four", 17, 21, 50.0), ("five", 22, 26, 6.0)], [2, 3, 4], 2.0)
    spans = word_spans(text, [a[1], b[1], c[1]])
    assert spans == [(0, 3), (4, 10), (11, 16), (17, 21), (22, 26)]
    e = stitch_windows([a[0], b[0], c[0]], words=spans)
    assert [(w.word, w.score) for w in e.words] == [("one", 1.0), ("twoooo", 5.0), ("three", 4.0), ("four", 50.0),
                                                    ("five", 6.0)]
    assert [(t.token, t.score) for t in e.tokens] == [("one", 1.0), ("two", 2.0), ("##ooo", 3.0), ("three", 4.0),
                                                      ("four", 50.0), ("five", 6.0)]
    assert e.windows == 3 and e.delta == -7.0  # the window gap of largest magnitude
    # without the review's words, the pieces of the cut word would be two words
    assert [w.word for w in stitch_windows([a[0], b[0], c[0]]).words] == ["one", "two", "ooo", "three", "four", "five"]


def test_whitespace_only_and_empty_spans_stay_in_place():
    assert trim_span("ab  ", 2, 4) == (4, 4)  # all space: shrinks to its end, never reads past the text
    assert trim_span("a ", 2, 2) == (2, 2)  # empty: left as it is
    assert trim_span("a b", 1, 2) == (2, 2)


def test_special_tokens_keep_their_offsets_and_flag():
    tokens, words = build_scores(
        "not good", ["[CLS]", "not", "good", "[SEP]"], [0.0, 1.0, -2.0, 0.5], [3, 0, 4, 0], [4, 3, 8, 0],
        [True, False, False, True], [None, 0, 1, None], "none",
    )
    assert [(t.start, t.end, t.special) for t in tokens] == [(3, 4, True), (0, 3, False), (4, 8, False), (0, 0, True)]


def test_apply_normalization_views_tokens_and_words_separately():
    from saliency_cli.engine.scores import apply_normalization
    from tests.factories import make_explanation

    e = make_explanation("1", "terrible acting and plot", [0.5, -2.0, 1.0, 0.5])
    assert apply_normalization(e, "none") is e
    for mode in ("max", "l1"):
        v = apply_normalization(e, mode)
        assert v.normalization == mode and (v.id, v.text, v.method) == (e.id, e.text, e.method)
        raw_t = [t.score for t in e.tokens]
        assert [t.score for t in v.tokens] == pytest.approx(normalize(raw_t, [t.special for t in e.tokens], mode))
        assert [w.score for w in v.words] == pytest.approx(normalize([0.5, -2.0, 1.0, 0.5], [False] * 4, mode))
        assert [(w.word, w.start, w.end) for w in v.words] == [(w.word, w.start, w.end) for w in e.words]
        assert [(t.token, t.special) for t in v.tokens] == [(t.token, t.special) for t in e.tokens]
    assert [w.score for w in apply_normalization(e, "max").words] == pytest.approx([0.25, -1.0, 0.5, 0.25])


def test_word_spans_skip_special_unnamed_and_empty_tokens():
    from saliency_cli.engine.scores import word_spans

    text = "[x] good film"
    offsets = [(0, 3), (4, 8), (8, 8), (9, 13), (9, 13)]
    special = [True, False, False, False, False]
    word_ids = [0, 1, 2, None, 3]
    assert word_spans(text, [(offsets, special, word_ids)]) == [(4, 8), (9, 13)]


def test_stitching_keeps_touching_tokens_the_first_window_s_params_and_a_cut_word_s_span():
    from dataclasses import replace

    from saliency_cli.engine.scores import stitch_windows

    text = "unbelievable job ok"
    a = _window(text, [("un", 0, 2, 1.0), ("##believ", 2, 9, 2.0), ("##able", 9, 12, 3.0)], [0, 0, 0], None)
    b = _window(text, [("##able", 9, 12, 30.0), ("job", 13, 16, 4.0), ("ok", 17, 19, 5.0)], [0, 1, 2], None)
    first = replace(a[0], params={"window": 1}, tokens=(*a[0].tokens, replace(a[0].tokens[0], start=0, end=5)))
    e = stitch_windows([first, replace(b[0], params={"window": 2})], words=[(0, 12), (13, 16), (17, 19)])
    assert [(t.token, t.score) for t in e.tokens] == [("un", 1.0), ("##believ", 2.0), ("##able", 3.0), ("job", 4.0),
                                                      ("ok", 5.0)]  # a special token with a span is dropped too
    assert e.params == {"window": 1}
    assert [(w.word, w.start, w.end, w.score) for w in e.words] == [("unbelievable", 0, 12, 6.0),
                                                                    ("job", 13, 16, 4.0), ("ok", 17, 19, 5.0)]
    assert stitch_windows([first, b[0]], params={"r2": 0.5}).params == {"r2": 0.5}


def test_normalize_small_denominators_all_special_and_all_zero():
    assert normalize([0.2, -0.3], [False, False], "l1") == pytest.approx([0.4, 0.6])  # a sum under 1 still divides
    assert normalize([0.5, -0.25], [False, False], "max") == pytest.approx([1.0, -0.5])
    assert normalize([2.0, 3.0], [True, True], "max") == [0.0, 0.0]  # nothing but special tokens
    assert normalize([0.0, 0.0], [False, False], "max") == [0.0, 0.0]
    with pytest.raises(ValueError) as info:
        normalize([1.0], [False], "softmax")
    assert str(info.value) == "unknown normalization 'softmax'; choose from none, l1, max"


def test_special_and_empty_tokens_are_never_words_and_a_word_cut_everywhere_keeps_its_span():
    from saliency_cli.engine.scores import stitch_windows, word_spans

    assert merge_words([1.0, 2.0, 3.0], [0, 3, 4], [3, 3, 8], [True, False, False], [0, 0, 1]) == [(4, 8, 3.0)]
    text = "one twoooo three"
    a = _window(text, [("one", 0, 3, 1.0), ("", 3, 3, 9.0), ("two", 4, 7, 2.0)], [0, 0, 1], None)
    b = _window(text, [("##ooo", 7, 10, 3.0), ("three", 11, 16, 4.0)], [1, 2], None)
    e = stitch_windows([a[0], b[0]], words=word_spans(text, [a[1], b[1]]))
    assert [t.token for t in e.tokens] == ["one", "two", "##ooo", "three"]
    assert [(w.word, w.start, w.end, w.score) for w in e.words] == [("one", 0, 3, 1.0), ("twoooo", 4, 10, 5.0),
                                                                    ("three", 11, 16, 4.0)]

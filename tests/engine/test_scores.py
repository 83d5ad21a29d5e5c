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

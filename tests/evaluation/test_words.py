"""A review's words as the corpus summary counts them: letters or digits in any script, top and bottom k
with ties to the earlier word, snippets cut at whole words."""

from __future__ import annotations

from saliency_cli.evaluation.words import is_word, ranked, review_words, snippet
from saliency_cli.records import WordScore


def test_a_word_has_a_letter_or_a_digit_in_any_script():
    assert [is_word(t) for t in ("a", "é", "日本", "42", "½", "_", ",", "—", "...")] == [True] * 5 + [False] * 4


def test_top_and_bottom_k_ties_go_to_the_earlier_word():
    sums = review_words([WordScore(w, 0, 1, s) for w, s in (("b", 1.0), ("a", 1.0), ("c", -2.0), ("d", -2.0))])
    assert ranked(sums, 1) == ({"b"}, {"c"})
    assert ranked(sums, 3) == ({"b", "a", "c"}, {"c", "d", "b"})


def test_the_strongest_occurrence_is_kept_and_non_finite_sums_are_left_out():
    words = [WordScore("Good", 0, 4, 0.1), WordScore("good", 5, 9, -0.5), WordScore("x", 10, 11, float("nan"))]
    assert review_words(words) == {"good": (0.1 - 0.5, 1)}


def test_snippets_are_cut_at_whole_words_around_the_word():
    text = "one two three four five six seven eight nine ten " * 3
    at = text.index("five", 60)
    s = snippet("r", text, WordScore("five", at, at + 4, 0.5), 1.0, context=12)
    assert s.text[s.start:s.end] == "five" and s.cut_left and s.cut_right
    assert s.text == "three four five six seven"

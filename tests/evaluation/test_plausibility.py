"""Plausibility against human rationales: token F1, IOU and AUPRC checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from saliency_cli.evaluation.plausibility import (
    Rationale, average_precision, parse_rationale, plausibility, read_rationale,
)
from tests.factories import make_explanation

TEXT = "This is a total waste of money"
SCORES = [0.1, 0.0, -0.2, 0.3, 0.9, 0.05, 0.6]  # This is a total waste of money


def score(rationale: str, scores=SCORES, text=TEXT) -> dict:
    e = make_explanation("1", text, scores)
    return plausibility(e.text, e.words, read_rationale(rationale))


def test_the_top_words_are_the_rationale():
    got = score('["waste", "money"]')
    assert got == {"k": 2, "token_f1": 1.0, "iou": 1.0, "auprc": 1.0, "unmatched": [], "reason": None}


def test_a_phrase_marks_its_words_and_half_of_them_are_found():
    # marked: total (0.3) and waste (0.9); top 2 by score: waste, money -> overlap 1
    got = score('["total waste"]')
    assert (got["k"], got["token_f1"], got["iou"]) == (2, 0.5, 1 / 3)
    # ranking waste (hit), money, total (hit): precision 1/1 and 2/3 at the hits -> AP (1 + 2/3) / 2
    assert got["auprc"] == pytest.approx(5 / 6, abs=1e-15)


def test_spans_mark_the_words_they_overlap_and_spans_past_the_end_are_reported():
    got = score("[[10, 15], [40, 50]]")  # text[10:15] == "total"
    assert got["k"] == 1 and got["unmatched"] == ["[40, 50]"]
    assert got["token_f1"] == 0.0 and got["iou"] == 0.0  # the top word is "waste"
    assert got["auprc"] == pytest.approx(1 / 3, abs=1e-15)  # total is third by score
    assert score("[[12, 13]]")["k"] == 1  # a span inside a word marks that word


def test_words_match_whole_words_in_any_case_and_names_the_review_lacks_are_reported():
    got = score('["WASTE", "was", "unicorn"]')
    assert got["k"] == 1 and got["unmatched"] == ["was", "unicorn"] and got["reason"] is None
    none = score('["unicorn"]')
    assert none["k"] == 0 and none["token_f1"] is None and "marks no word" in none["reason"]


@pytest.mark.parametrize("text", ["not json", "[]", '"waste"', "[1, 2]", '[["a", "b"]]', '["a", [1, 2]]', '[" "]'])
def test_unreadable_rationales_are_a_reason_not_an_error(text):
    with pytest.raises(ValueError):
        parse_rationale(text)
    got = score(text)
    assert got["k"] == 0 and got["token_f1"] is None and got["reason"].startswith("unreadable rationale")


def test_parsed_forms():
    assert parse_rationale('["a", " b c "]') == Rationale(words=("a", "b c"))
    assert parse_rationale("[[0, 3], [5, 9]]") == Rationale(spans=((0, 3), (5, 9)))


def test_average_precision_counts_tied_scores_as_one_threshold():
    assert average_precision([0.5, 0.5, 0.1], [False, True, False]) == 0.5
    assert average_precision([0.5, 0.5, 0.1], [False, False, True]) == pytest.approx(1 / 3)
    assert average_precision([1.0, 0.0], [False, False]) is None


def test_average_precision_equals_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(2, 30))
        s = np.round(rng.normal(size=n), 1)  # rounded: ties happen
        y = rng.random(n) < 0.3
        if y.any():
            assert average_precision(s, y) == pytest.approx(metrics.average_precision_score(y, s), abs=1e-12)


def test_top_k_ties_go_to_the_earlier_word():
    got = score('["a"]', scores=[0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0])  # a and total tie: a comes first
    assert got["token_f1"] == 1.0

"""The corpus tally: word counts, means, intervals and shares recounted by hand from the rows; punctuation,
case and repeated words; merges; the confusion view; records of other runs refused; flat memory."""

from __future__ import annotations

import gc
import random
import sys
import types
from dataclasses import replace

import numpy as np
import pytest

from saliency_cli.evaluation.corpus import CorpusOptions, CorpusTally, MixedRunsError
from saliency_cli.records import Explanation, Outcome, Prediction, Review, RowError, Target, WordScore
from tests.factories import WORD_RE, make_explanation

VOCAB = ["great", "battery", "screen", "awful", "not", "good", "the", "is", "sound", "price", "Great", "NOT"]
LABELS = ["neg", "mid", "pos"]


def review(rid: str, text: str, scores, *, method="integrated-gradients", predicted="pos", target=None, gold=None,
           labelled=False, model="m", prob=0.5):
    probs = {label: (prob if label == predicted else (1 - prob) / 2) for label in LABELS}
    e = make_explanation(rid, text, scores, method=method, label=predicted, probs=probs, target=target, model=model,
                         row=int(rid) if rid.isdigit() else None)
    return replace(e, label=gold, labelled=labelled)


def generated(n: int, seed: int = 0, vocab=VOCAB, methods=("integrated-gradients", "occlusion")):
    """``n`` reviews of random words (random case, punctuation), each explained by every method for its
    predicted label, with gold labels; scores from a seeded generator."""
    rng = random.Random(seed)
    for i in range(1, n + 1):
        words = [rng.choice(vocab) + rng.choice(["", "", ",", "!"]) for _ in range(rng.randint(3, 12))]
        text = " ".join(words)
        count = len(WORD_RE.findall(text))
        predicted, gold = rng.choice(LABELS), rng.choice(LABELS + [None])
        yield [review(str(i), text, [rng.gauss(0, 1) for _ in range(count)], method=m, predicted=predicted,
                      gold=gold, labelled=True, prob=round(rng.uniform(0.34, 0.99), 2)) for m in methods]


def tally_of(reviews, **options) -> CorpusTally:
    tally = CorpusTally(CorpusOptions(**options))
    for group in reviews:
        tally.add_review(group)
    return tally


def recount(reviews, method: str, target: str, k: int):
    """Per folded word: the per-review sums and how often it was in its review's top / bottom k, by hand."""
    per_word: dict[str, list[float]] = {}
    top: dict[str, int] = {}
    bottom: dict[str, int] = {}
    for group in reviews:
        for e in group:
            if (e.method, e.target.label) != (method, target):
                continue
            sums: dict[str, float] = {}
            for w in e.words:
                if any(c.isalnum() for c in w.word):
                    sums[w.word.lower()] = sums.get(w.word.lower(), 0.0) + w.score
            order = list(sums)  # first occurrence order breaks ties
            for word in sorted(order, key=lambda w: -sums[w])[:k]:
                top[word] = top.get(word, 0) + 1
            for word in sorted(order, key=lambda w: sums[w])[:k]:
                bottom[word] = bottom.get(word, 0) + 1
            for word, total in sums.items():
                per_word.setdefault(word, []).append(total)
    return per_word, top, bottom


def test_words_counts_means_intervals_and_shares_match_a_recount_from_the_rows():
    stats = pytest.importorskip("scipy.stats")
    reviews = list(generated(300))
    summary = tally_of(reviews, min_count=5, top_k=3).summary()
    assert summary["reviews"] == 300 and summary["records"] == 600
    checked = 0
    for group in summary["groups"]:
        per_word, top, bottom = recount(reviews, group["method"], group["target"], 3)
        expected = {w for w, v in per_word.items() if len(v) >= 5}
        assert {w["word"] for w in group["words"]} == expected
        for w in group["words"]:
            values = np.array(per_word[w["word"]])
            assert w["reviews"] == len(values)
            assert w["mean"] == pytest.approx(values.mean(), abs=1e-12)
            lo, hi = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
            assert w["ci"] == pytest.approx([lo, hi], abs=1e-9)
            assert w["top_share"] == top.get(w["word"], 0) / len(values)
            assert w["bottom_share"] == bottom.get(w["word"], 0) / len(values)
            checked += 1
        means = [w["mean"] for w in group["words"]]
        assert means == sorted(means, reverse=True)  # best supporting first
    assert checked > 50


def test_a_word_twice_in_one_review_counts_once_punctuation_is_left_out_and_case_is_folded():
    text = "Great, great GREAT! not bad"
    scores = [0.5, -0.2, 0.25, 0.125, 9.0, -0.5, 1.5]  # Great , great GREAT ! not bad
    group = [review("1", text, scores)]
    words = {w["word"]: w for w in tally_of([group], min_count=1, top_k=1).summary()["groups"][0]["words"]}
    assert set(words) == {"great", "not", "bad"}
    assert words["great"]["reviews"] == 1 and words["great"]["mean"] == 0.5 + 0.25 + 0.125
    assert words["great"]["ci"] is None  # one review: no interval
    assert words["bad"]["top_share"] == 1.0 and words["not"]["bottom_share"] == 1.0
    kept = tally_of([group], min_count=1, keep_punctuation=True).summary()["groups"][0]["words"]
    assert {w["word"]: w["mean"] for w in kept}["!"] == 9.0 and "," in {w["word"] for w in kept}


def test_casefold_joins_words_that_lower_keeps_apart():
    group = [review("1", "STRASSE straße", [1.0, 3.0])]
    words = tally_of([group], min_count=1).summary()["groups"][0]["words"]
    assert [(w["word"], w["mean"]) for w in words] == [("strasse", 4.0)]


def test_groups_are_method_and_target_and_count_their_reviews():
    reviews = [[review("1", "good price", [1, 2], target="pos"), review("2", "good", [1], target="neg")],
               [review("3", "good", [3], method="occlusion", target="pos")]]
    tally = CorpusTally(CorpusOptions(min_count=1))
    for group in reviews:
        tally.add_review(group)
    groups = {(g["method"], g["target"]): g for g in tally.summary()["groups"]}
    assert {k: g["reviews"] for k, g in groups.items()} == {
        ("integrated-gradients", "neg"): 1, ("integrated-gradients", "pos"): 1, ("occlusion", "pos"): 1}
    assert tally.reviews == 2 and tally.records == 3


def test_two_halves_merged_give_the_same_summary_as_one_pass_to_the_last_bit():
    reviews = list(generated(400, seed=3))
    options = dict(min_count=3, top_k=2, snippets=2, examples=2)
    whole = tally_of(reviews, **options)
    first, second = tally_of(reviews[:157], **options), tally_of(reviews[157:], **options)
    first.merge(second)
    assert first.summary(with_snippets=True) == whole.summary(with_snippets=True)
    backwards = tally_of(reviews[157:], **options)
    backwards.merge(tally_of(reviews[:157], **options))
    numbers = lambda s: [(g["method"], g["target"], [(w["word"], w["mean"], w["ci"], w["top_share"]) for w in g["words"]])
                         for g in s["groups"]]
    assert sorted(numbers(backwards.summary())) == sorted(numbers(whole.summary()))


def test_the_confusion_view_counts_reviews_and_names_what_drove_the_mistakes():
    reviews = [
        [review("1", "awful awful battery", [0.5, 0.25, 0.0625], predicted="pos", gold="neg", labelled=True, prob=0.9),
         review("1", "awful awful battery", [9, 9, 9], predicted="pos", target="neg", gold="neg", labelled=True)],
        [review("2", "awful screen", [0.125, 1.0], predicted="pos", gold="neg", labelled=True, prob=0.6)],
        [review("3", "good", [1.0], predicted="pos", gold="pos", labelled=True)],
        [review("4", "good", [1.0], predicted="neg", gold=None, labelled=True)],
        [review("5", "fine", [1.0], predicted="mid", gold="pos", labelled=True)],
    ]
    confusion = tally_of(reviews, min_count=1, top=2).summary()["confusion"]
    assert confusion["gold"] == ["neg", "pos"] and confusion["predicted"] == ["mid", "pos"]
    assert confusion["counts"] == [[0, 2], [1, 1]] and confusion["unlabelled"] == 1
    cell = confusion["cells"][0]  # the largest mistake first
    assert (cell["gold"], cell["predicted"], cell["reviews"]) == ("neg", "pos", 2)
    drivers = cell["methods"]["integrated-gradients"]
    # only the explanations of the predicted label count: awful 0.75 + 0.125, screen 1.0, battery 0.0625
    assert [(w["word"], w["total"], w["reviews"]) for w in drivers["words"]] == [("screen", 1.0, 1), ("awful", 0.875, 2)]
    assert [x["id"] for x in drivers["examples"]] == ["1", "2"]  # most confident mistake first
    assert all((c["gold"], c["predicted"]) != ("pos", "pos") for c in confusion["cells"])


def test_no_confusion_without_labels_and_row_errors_are_counted():
    tally = CorpusTally()
    tally.add(Outcome(Review("1", "good", 1), [review("1", "good", [1.0])]))
    tally.add(RowError(2, "2", "empty"))
    summary = tally.summary()
    assert "confusion" not in summary and summary["failed_rows"] == 1 and summary["reviews"] == 1


@pytest.mark.parametrize("change", [dict(model="other"), dict(normalization="l1"), dict(attribute="logit")])
def test_records_of_another_run_are_refused(change):
    tally = CorpusTally()
    tally.add_review([review("1", "good", [1.0])])
    with pytest.raises(MixedRunsError, match="summarize one run's results at a time"):
        tally.add_review([replace(review("2", "good", [1.0]), **change)])
    other = CorpusTally()
    other.add_review([replace(review("3", "good", [1.0]), **change)])
    with pytest.raises(MixedRunsError):
        tally.merge(other)


def test_snippets_quote_the_reviews_where_the_word_weighed_most():
    reviews = [[review(str(i), f"the battery is {'x' * i}", [0.0, s, 0.0, 0.0])] for i, s in
               enumerate([0.1, -0.9, 0.5, 0.2], start=1)]
    words = tally_of(reviews, min_count=1, snippets=2).summary(with_snippets=True)["groups"][0]["words"]
    snippets = {w["word"]: w["snippets"] for w in words}["battery"]
    assert [s["id"] for s in snippets] == ["2", "3"]
    s = snippets[0]
    assert s["text"][s["start"]:s["end"]] == "battery" and s["score"] == -0.9 and s["scale"] == 0.9


def _light(rows: int, vocab: int = 150):
    """Reviews of words only (no tokens), cheap to make: the rows of the memory test."""
    rng = random.Random(1)
    prediction, target = Prediction("pos", 2, {"neg": 0.2, "mid": 0.2, "pos": 0.6}), Target("pos", 2)
    for i in range(rows):
        picked = [f"w{rng.randrange(vocab)}" for _ in range(12)]
        text = " ".join(picked)
        starts = np.cumsum([0] + [len(w) + 1 for w in picked[:-1]])
        words = tuple(WordScore(w, int(a), int(a) + len(w), rng.gauss(0, 1)) for w, a in zip(picked, starts))
        yield [Explanation(str(i), text, "m", "ig", {}, prediction, target, (), words, row=i, label="neg",
                           labelled=True)]


def _retained(obj) -> int:
    """Bytes held by ``obj`` and everything it refers to (each object once; classes and modules left out)."""
    seen, stack, total = set(), [obj], 0
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, (type, types.ModuleType, types.FunctionType)):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        stack.extend(gc.get_referents(o))
    return total


def test_memory_grows_with_the_vocabulary_not_with_the_rows():
    sizes = {}
    for rows in (500, 5_000):
        tally = tally_of(_light(rows), min_count=1, snippets=2, examples=2)
        sizes[rows] = _retained(tally)
        assert tally.reviews == rows and len(tally.groups[("ig", "pos")].words) == 150
    assert sizes[5_000] < 1.5 * sizes[500], sizes


def test_a_group_is_signed_when_either_part_has_a_negative_score():
    positive, negative = tally_of([[review("1", "good", [1.0])]]), tally_of([[review("2", "good", [-1.0])]])
    assert positive.summary()["groups"][0]["signed"] is False
    positive.merge(negative)
    assert positive.summary(with_snippets=False)["groups"][0]["signed"] is True


def test_the_python_api_summarizes_explanations_and_saved_files_alike(tmp_path):
    import saliency_cli
    from saliency_cli.outputs.formats import jsonl_lines

    reviews = list(generated(40, seed=5))
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(jsonl_lines(group) for group in reviews))
    flat = [e for group in reviews for e in group]
    expected = tally_of(reviews, min_count=2).summary()
    assert saliency_cli.summarize(flat, min_count=2) == expected
    assert saliency_cli.summarize(str(path), min_count=2) == expected == saliency_cli.summarize([path], min_count=2)

"""The statistics behind ``evaluate``: ranks, win rates, the paired bootstrap and the summary, checked
against direct computations; and the Python API end to end on a tiny model."""

from __future__ import annotations

import math

import numpy as np
import pytest

import saliency_cli
from saliency_cli.evaluation.statistics import (
    METRICS, Tally, bootstrap_means, ranks, summarize, tally_reviews, win_rates, with_control,
)
from tests.factories import make_explanation

NAN = float("nan")


def faith(comp, suff, curve=None, tau=None, norm=(0.5, 0.5)):
    return {
        "bins": [0.01, 0.05, 0.1, 0.2, 0.5], "baseline": "mask", "comprehensiveness": comp, "sufficiency": suff,
        "curve": curve or {"comprehensiveness": [comp] * 5, "sufficiency": [suff] * 5},
        "normalized": {"comprehensiveness": norm[0], "sufficiency": norm[1]}, "full": 0.9, "empty": 0.1,
        "taucorr_loo": tau, "reason": None,
    }


def review(id, values, target="positive"):
    """One review's explanations: ``values`` maps method -> (comp, suff)."""
    from dataclasses import replace

    return [replace(make_explanation(id, "good movie", method=m, target=target), faithfulness=faith(*v))
            for m, v in values.items()]


def test_ranks_share_ties_and_skip_missing_methods():
    scores = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, NAN], [NAN, NAN, 5.0]])
    r = ranks(scores)
    assert r[0].tolist() == [1.0, 3.0, 2.0]
    assert r[1, :2].tolist() == [1.5, 1.5] and math.isnan(r[1, 2])
    assert r[2, 2] == 1.0 and np.isnan(r[2, :2]).all()


def test_win_rates_count_ties_half_over_shared_units():
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [5.0, NAN]])
    w = win_rates(scores)
    assert w[0, 1] == pytest.approx((1 + 0 + 0.5) / 3) and w[1, 0] == pytest.approx((0 + 1 + 0.5) / 3)
    assert np.isnan(w[0, 0]) and np.isnan(w[1, 1])


def test_bootstrap_means_equal_explicit_resamples_and_ignore_nan():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    x[[3, 7], 1] = NAN
    got = bootstrap_means(x, resamples=25, seed=7, max_cells=200)  # several chunks of draws
    draws = np.random.default_rng(7).integers(0, 40, size=(25, 40))  # the same draws, chunking aside
    want = np.stack([np.nanmean(x[d], axis=0) for d in draws])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert np.array_equal(got, bootstrap_means(x, resamples=25, seed=7, max_cells=200))


def test_bootstrap_draws_do_not_depend_on_chunking():
    x = np.arange(30, dtype=float)[:, None]
    np.testing.assert_allclose(bootstrap_means(x, 12, 3, max_cells=30), bootstrap_means(x, 12, 3, max_cells=10**6))


def test_summary_means_ranks_wins_and_curves():
    tally = Tally(["a", "b", "random"])
    tally.add_review(review("1", {"a": (0.5, 0.1), "b": (0.3, 0.2), "random": (0.1, 0.4)}))
    tally.add_review(review("2", {"a": (0.2, 0.3), "b": (0.4, 0.1), "random": (0.0, 0.5)}))
    tally.add_review(review("3", {"a": (0.6, 0.0), "b": (0.1, 0.0), "random": (0.2, 0.2)}))
    s = summarize(tally, resamples=200, seed=0)
    assert s["rows"] == 3 and s["units"] == 3
    a = s["methods"]["a"]
    assert a["comprehensiveness"]["mean"] == pytest.approx((0.5 + 0.2 + 0.6) / 3)
    assert a["sufficiency"]["mean"] == pytest.approx((0.1 + 0.3 + 0.0) / 3)
    lo, hi = a["comprehensiveness"]["ci95"]
    assert 0.2 <= lo <= a["comprehensiveness"]["mean"] <= hi <= 0.6
    # scores comp - suff: a = .4, -.1, .6; b = .1, .3, .1; random = -.3, -.5, 0
    assert a["mean_rank"] == pytest.approx((1 + 2 + 1) / 3)
    assert s["methods"]["b"]["mean_rank"] == pytest.approx((2 + 1 + 2) / 3)
    assert s["methods"]["random"]["mean_rank"] == 3.0
    assert a["wins"] == {"b": pytest.approx(2 / 3), "random": 1.0}
    assert s["ranking"] == ["a", "b", "random"]
    assert a["curve"]["comprehensiveness"] == pytest.approx([(0.5 + 0.2 + 0.6) / 3] * 5)
    assert a["taucorr_loo"]["mean"] is None and a["taucorr_loo"]["ci95"] == [None, None]
    assert "one model" in s["caveat"]


def test_units_are_review_and_target_pairs_and_missing_values_are_left_out():
    tally = Tally(["a", "random"])
    tally.add_review(review("1", {"a": (0.5, 0.1), "random": (0.1, 0.2)}, target="positive")
              + review("1", {"a": (0.3, 0.1), "random": (0.2, 0.2)}, target="negative"))
    skipped = review("2", {"a": (0.0, 0.0), "random": (0.0, 0.0)})
    from dataclasses import replace

    tally.add_review([replace(e, faithfulness={"comprehensiveness": None, "reason": "windowed"}) for e in skipped])
    s = summarize(tally, resamples=50)
    assert (s["rows"], s["units"]) == (2, 3)
    assert s["methods"]["a"]["comprehensiveness"] == {"mean": pytest.approx(0.4), "ci95": [pytest.approx(0.3),
                                                      pytest.approx(0.5)], "n": 2}
    assert s["not_scored"] == {"windowed": 2}


def test_merge_equals_one_tally():
    rows = [review(str(i), {"a": (0.1 * i, 0.05 * i), "random": (0.2, 0.1 * i)}) for i in range(6)]
    whole = tally_reviews(["a", "random"], [e for r in rows for e in r])
    first, rest = tally_reviews(["a", "random"], [e for r in rows[:2] for e in r]), Tally(["a", "random"])
    for r in rows[2:]:
        rest.add_review(r)
    first.merge(rest)
    merged, one = summarize(first, resamples=30), summarize(whole, resamples=30)
    for m in ("a", "random"):  # curves are sums in another order: equal to rounding
        want = one["methods"][m].pop("curve")
        for k, v in merged["methods"][m].pop("curve").items():
            assert v == pytest.approx(want[k], abs=1e-15)
    assert merged == one
    assert whole.matrix().shape == (6, 2, len(METRICS))


def test_with_control_adds_random_once_and_canonical_names():
    assert with_control(["ig", "loo"]) == ["integrated-gradients", "occlusion", "random"]
    assert with_control(["random", "grad", "gradient"]) == ["random", "gradient"]


def test_api_summary_matches_its_rows(tiny_lm):
    texts = ["Great phone, terrible battery.", "The screen is bright and the sound is excellent.",
             "Awful customer service; they never answered my emails."]
    summary = saliency_cli.evaluate(texts, model=tiny_lm, methods=["gxi", "occlusion"], bootstrap=100)
    assert list(summary["methods"]) == ["gradient-x-input", "occlusion", "random"]
    rows = saliency_cli.explain(texts, model=tiny_lm, methods=["gxi", "occlusion", "random"], faithfulness=True)
    for m in summary["methods"]:
        comp = [e.faithfulness["comprehensiveness"] for e in rows if e.method == m]
        assert summary["methods"][m]["comprehensiveness"]["mean"] == pytest.approx(np.mean(comp), abs=1e-12)
    assert summary["methods"]["occlusion"]["taucorr_loo"]["mean"] == pytest.approx(1.0)
    assert summary == saliency_cli.evaluate(texts, model=tiny_lm, methods=["gxi", "occlusion"], bootstrap=100)


def test_plausibility_is_tallied_beside_faithfulness_and_rationale_problems_are_noted():
    from dataclasses import replace

    def plaus(f1, reason=None, unmatched=()):
        return {"k": 2, "token_f1": f1, "iou": f1 / (2 - f1) if f1 is not None else None, "auprc": f1,
                "unmatched": list(unmatched), "reason": reason}

    rows = []
    for i, (a, b) in enumerate([(1.0, 0.0), (0.5, 0.5), (None, None)], start=1):
        group = review(str(i), {"ig": (0.3, 0.1), "random": (0.1, 0.2)})
        reason, unmatched = "unreadable rationale: x" if i == 3 else None, ["unicorn"] if i == 2 else ()
        rows += [replace(e, plausibility=plaus(f1, reason, unmatched)) for e, f1 in zip(group, (a, b))]
    tally = tally_reviews(["ig", "random"], rows)
    s = summarize(tally, resamples=200)
    ig = s["methods"]["ig"]
    assert ig["token_f1"]["mean"] == 0.75 and ig["token_f1"]["n"] == 2 and ig["iou"]["mean"] == pytest.approx(2 / 3)
    assert s["methods"]["random"]["auprc"]["mean"] == 0.25 and ig["comprehensiveness"]["n"] == 3
    lo, hi = ig["token_f1"]["ci95"]
    assert 0.5 <= lo <= 0.75 <= hi <= 1.0
    assert s["plausibility_not_scored"] == {"unreadable rationale: x": 2} and s["rationale_problems"] == 2
    assert [n[1:] for n in tally.notes] == [("2", "rationale entries not found in the review: 'unicorn'"),
                                            ("3", "unreadable rationale: x")]


def test_every_metric_lands_in_its_own_column_and_the_summary_names_its_settings():
    tally = Tally(["a", "random"])
    tally.add_review(review("1", {"a": (0.5, 0.1), "random": (0.1, 0.2)}))
    tally.add_review([replace_faith(e, norm=(0.25, 0.75), tau=0.4) for e in review("2", {"a": (0.3, 0.2),
                                                                                        "random": (0.0, 0.1)})])
    s = summarize(tally, resamples=40, seed=3)
    a = s["methods"]["a"]
    assert a["normalized_comprehensiveness"]["mean"] == pytest.approx((0.5 + 0.25) / 2)
    assert a["normalized_sufficiency"]["mean"] == pytest.approx((0.5 + 0.75) / 2)
    assert a["taucorr_loo"] == {"mean": pytest.approx(0.4), "ci95": [pytest.approx(0.4)] * 2, "n": 1}
    assert a["token_f1"] == {"mean": None, "ci95": [None, None], "n": 0}
    assert (s["bins"], s["baseline"]) == ([0.01, 0.05, 0.1, 0.2, 0.5], "mask")
    assert s["bootstrap"] == {"resamples": 40, "seed": 3, "interval": "percentile, 95%"}
    assert s["higher_is_better"]["sufficiency"] is False and s["higher_is_better"]["comprehensiveness"] is True
    assert s["not_scored"] == {} and s["plausibility_not_scored"] == {} and s["rationale_problems"] == 0
    assert s["score"].startswith("comprehensiveness - sufficiency")


def replace_faith(e, norm, tau):
    from dataclasses import replace

    comp, suff = e.faithfulness["comprehensiveness"], e.faithfulness["sufficiency"]
    return replace(e, faithfulness=faith(comp, suff, tau=tau, norm=norm))


def test_ranking_orders_by_mean_rank_and_puts_unscored_methods_last():
    """Not the alphabetical order: b ranks first, then random, then a; c has no record at all."""
    tally = Tally(["a", "b", "c", "random"])
    from saliency_cli.records import Outcome, Review, RowError

    for i, (a, b, r) in enumerate([(0.0, 0.5, 0.2), (0.1, 0.4, 0.3)]):
        tally.add(Outcome(Review(str(i), "good movie", i + 1), review(str(i), {"a": (a, 0.0), "b": (b, 0.0),
                                                                              "random": (r, 0.0)})))
    tally.add(RowError(3, "x", "bad row"))  # failed rows are left out
    s = summarize(tally, resamples=20)
    assert s["ranking"] == ["b", "random", "a", "c"] and (s["rows"], s["units"]) == (2, 2)
    assert s["methods"]["c"]["mean_rank"] is None and s["methods"]["c"]["curve"] is None
    assert s["methods"]["c"]["comprehensiveness"] == {"mean": None, "ci95": [None, None], "n": 0}
    assert s["methods"]["b"]["wins"] == {"a": 1.0, "c": None, "random": 1.0}


def test_an_empty_tally_summarises_to_nulls_and_default_seed_zero():
    tally = Tally(["a", "random"])
    tally.add_review([])
    s = summarize(tally, resamples=10)
    assert (s["rows"], s["units"], s["ranking"]) == (0, 0, ["a", "random"])
    assert s["methods"]["a"]["comprehensiveness"] == {"mean": None, "ci95": [None, None], "n": 0}
    assert s["methods"]["a"]["mean_rank"] is None and s["methods"]["a"]["curve"] is None
    assert s["bootstrap"]["seed"] == 0 and summarize(tally, resamples=10, seed=0) == s
    assert Tally([]).matrix().shape == (0, 0, len(METRICS))


def test_intervals_are_the_2_5_and_97_5_percentiles_of_the_bootstrap_means():
    tally = Tally(["a", "random"])
    for i in range(12):
        tally.add_review(review(str(i), {"a": (0.1 * (i % 5), 0.02 * i), "random": (0.05 * i, 0.1)}))
    s = summarize(tally, resamples=60, seed=5)
    flat = tally.matrix().reshape(12, -1)
    boot = bootstrap_means(flat, 60, 5)
    want = [np.percentile(boot[:, 0], 2.5), np.percentile(boot[:, 0], 97.5)]
    assert s["methods"]["a"]["comprehensiveness"]["ci95"] == pytest.approx(want, abs=1e-12)


def test_bootstrap_of_one_row_is_that_row_and_uneven_chunks_cover_every_resample():
    assert bootstrap_means(np.array([[2.0, -1.0]]), 5, 0).tolist() == [[2.0, -1.0]] * 5
    x = np.arange(20, dtype=float)[:, None]
    np.testing.assert_allclose(bootstrap_means(x, 12, 3, max_cells=100), bootstrap_means(x, 12, 3))  # 5+5+2
    assert bootstrap_means(np.zeros((0, 2)), 3, 0).shape == (3, 2)


def test_rationale_notes_name_entries_and_merge_keeps_reasons_notes_and_settings():
    from dataclasses import replace

    def one(i, plaus, faithfulness=None):
        e = make_explanation(str(i), "good movie", method="a", row=i)
        return [replace(e, plausibility=plaus, faithfulness=faithfulness or faith(0.1, 0.0))]

    problem = {"token_f1": None, "iou": None, "auprc": None, "unmatched": ["[7]", "unicorn"], "reason": None}
    first = Tally(["a"])
    for i in range(1, 23):
        first.add_review(one(i, problem))
    assert first.note_count == 22 and len(first.notes) == 20
    assert first.notes[0] == (1, "1", "rationale entries not found in the review: [7], 'unicorn'")
    other = Tally(["a"])
    other.add_review(one(30, {"reason": "unreadable rationale: y"}, {"comprehensiveness": None, "reason": "windowed"}))
    other.add_review(one(31, problem))
    empty = Tally(["a"])
    empty.merge(other)
    assert (empty.bins, empty.baseline) == ([0.01, 0.05, 0.1, 0.2, 0.5], "mask")
    assert empty.reasons == {"windowed": 1} and empty.plausibility_reasons == {"unreadable rationale: y": 1}
    assert [n[0] for n in empty.notes] == [30, 31] and empty.note_count == 2
    first.merge(other)
    assert first.note_count == 24 and len(first.notes) == 20 and first.reviews == 24

"""--faithfulness (ERASER comprehensiveness / sufficiency) against a direct computation with the model,
the metric helpers on their own, and how many copies the engine runs for them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from saliency_cli.evaluation import faithfulness as faith
from saliency_cli.engine import forward
from saliency_cli.runners.local import explain_reviews
from saliency_cli.inputs import texts_to_reviews
from saliency_cli.records import Explanation
from saliency_cli.settings import make_settings
from tests.methods import test_occlusion
from tests.methods.test_occlusion import TOL, outputs, tokenized, without

TEXTS = test_occlusion.TEXTS[:3]  # a sentence, words cut into several pieces, punctuation


@pytest.fixture(scope="module")
def lm(sharp_lm):
    return sharp_lm


def reviews(texts=TEXTS):
    return texts_to_reviews(texts)


def direct(lm, e, attribute, cache, replacement="mask"):
    """Comprehensiveness and sufficiency per bin of one record, from its word scores and the model
    (``cache``: the model's outputs by token ids, so a copy several records need runs once here too)."""
    ids, _, words = tokenized(lm, e.text)
    assert len(words) == len(e.words)
    scores = [w.score for w in e.words]
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    token_id = None if replacement == "delete" else getattr(lm.tokenizer, f"{replacement}_token_id")
    t = e.target.index

    def f(positions):
        copy = tuple(without(ids, positions, token_id))
        if copy not in cache:
            cache[copy] = outputs(lm, list(copy), attribute)
        return float(cache[copy][t])

    full = f([])
    comp, suff = [], []
    for b in faith.BINS:
        k = max(1, math.ceil(b * len(words)))
        top = set(order[:k])
        comp.append(full - f([p for w in top for p in words[w]]))
        suff.append(full - f([p for w in range(len(words)) if w not in top for p in words[w]]))
    empty = f([p for g in words for p in g])
    return full, empty, comp, suff


@pytest.mark.parametrize("attribute", ["probability", "logit"])
def test_comprehensiveness_and_sufficiency_equal_a_direct_computation(lm, attribute):
    ex = explain_reviews(lm, reviews(), make_settings(["gxi", "occlusion"], target=["all"], attribute=attribute,
                                                      faithfulness=True))
    assert len(ex) == len(TEXTS) * 2 * 3
    tol, cache = TOL[attribute], {}
    for e in ex:
        fa = e.faithfulness
        full, empty, comp, suff = direct(lm, e, attribute, cache)
        assert fa["bins"] == list(faith.BINS) and fa["baseline"] == "mask" and fa["reason"] is None
        assert fa["full"] == pytest.approx(full, abs=tol) and fa["empty"] == pytest.approx(empty, abs=tol)
        assert fa["curve"]["comprehensiveness"] == pytest.approx(comp, abs=2 * tol)
        assert fa["curve"]["sufficiency"] == pytest.approx(suff, abs=2 * tol)
        assert fa["comprehensiveness"] == pytest.approx(np.mean(comp), abs=2 * tol)
        assert fa["sufficiency"] == pytest.approx(np.mean(suff), abs=2 * tol)
        null = fa["full"] - fa["empty"]
        norm = fa["normalized"]
        assert norm["comprehensiveness"] == pytest.approx(min(1, max(0, fa["comprehensiveness"] / null)), abs=1e-12)
        assert norm["sufficiency"] == pytest.approx(min(1, max(0, 1 - fa["sufficiency"] / null)), abs=1e-12)
    # the values move: the comparison has something to compare
    assert max(abs(x) for e in ex for x in e.faithfulness["curve"]["comprehensiveness"]) > 0.01


@pytest.mark.parametrize("replacement", ["pad", "delete"])
def test_the_faithfulness_baseline_is_what_removed_words_become(lm, replacement):
    settings = make_settings(["gxi"], attribute="logit", faithfulness=True, faithfulness_baseline=replacement)
    cache = {}
    for e in explain_reviews(lm, reviews(), settings):
        full, empty, comp, suff = direct(lm, e, "logit", cache, replacement)
        assert e.faithfulness["baseline"] == replacement
        assert e.faithfulness["empty"] == pytest.approx(empty, abs=TOL["logit"])
        assert e.faithfulness["curve"]["comprehensiveness"] == pytest.approx(comp, abs=2 * TOL["logit"])
        assert e.faithfulness["curve"]["sufficiency"] == pytest.approx(suff, abs=2 * TOL["logit"])


def test_an_unknown_faithfulness_baseline_is_refused():
    with pytest.raises(ValueError, match="zero"):
        make_settings(["gxi"], faithfulness=True, faithfulness_baseline="zero")


def test_occlusion_first_bin_comprehensiveness_is_its_largest_drop(lm):
    ex = explain_reviews(lm, reviews(), make_settings(["occlusion"], target=["all"], attribute="logit",
                                                      faithfulness=True))
    for e in ex:
        assert len(e.words) < 100  # k = 1 at 1 %
        top = max(w.score for w in e.words)
        assert e.faithfulness["curve"]["comprehensiveness"][0] == pytest.approx(top, abs=TOL["logit"])
        # an explanation is as faithful as itself can be against occlusion
        assert e.faithfulness["taucorr_loo"] == pytest.approx(1.0)


def test_taucorr_loo_is_kendall_tau_against_occlusion_and_null_without_it(lm):
    settings = make_settings(["gxi", "occlusion"], attribute="logit", faithfulness=True)
    gxi, occ = [e for e in explain_reviews(lm, reviews(TEXTS[:1]), settings)]
    assert (gxi.method, occ.method) == ("gradient-x-input", "occlusion")
    expected = faith.kendall_tau_b([w.score for w in gxi.words], [w.score for w in occ.words])
    assert gxi.faithfulness["taucorr_loo"] == pytest.approx(expected, abs=1e-9)
    (alone,) = explain_reviews(lm, reviews(TEXTS[:1]), make_settings(["gxi"], attribute="logit", faithfulness=True))
    assert alone.faithfulness["taucorr_loo"] is None
    assert alone.faithfulness["comprehensiveness"] == pytest.approx(gxi.faithfulness["comprehensiveness"], abs=1e-5)


def test_kendall_tau_b_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for n in (2, 3, 7, 30):
        for ties in (False, True):
            x = rng.normal(size=n)
            y = rng.normal(size=n)
            if ties:
                x = np.round(x)
                y = np.round(y * 2)
            ours = faith.kendall_tau_b(x, y)
            ref = stats.kendalltau(x, y).statistic
            if np.isnan(ref):
                assert ours is None
            else:
                assert ours == pytest.approx(ref, abs=1e-12)
    assert faith.kendall_tau_b([1.0], [2.0]) is None
    assert faith.kendall_tau_b([1, 1, 1], [1, 2, 3]) is None
    assert faith.kendall_tau_b([1.0, 2.0, 3.0], [1.0, 2.0]) is None  # lists of different lengths


def test_ranking_masks_and_bins():
    assert list(faith.ranking([0.1, 0.5, 0.5, -1.0])) == [1, 2, 0, 3]  # ties by position
    assert [faith.top_k(n, b) for n in (3, 100) for b in faith.BINS] == [1, 1, 1, 1, 2, 1, 5, 10, 20, 50]
    m = faith.masks([0.1, 0.5, 0.5, -1.0])
    assert m.shape == (12, 4) and m.dtype == bool  # used as keep-masks: 1.0 would index, not select
    assert m[0].all() and not m[1].any()
    assert list(m[2]) == [True, False, True, True]  # comprehensiveness at 1 %: the top word removed
    assert list(m[2 + 4]) == [True, False, False, True]  # 50 %: the top two removed
    assert list(m[7 + 4]) == [False, True, True, False]  # sufficiency at 50 %: only the top two kept
    assert faith.metrics([0.5, 0.5] + [0.2] * 10)["normalized"] == {"comprehensiveness": None, "sufficiency": None}


def test_full_and_empty_inputs_run_once_per_review_whatever_the_methods(lm, monkeypatch):
    calls: list[list[tuple[int, ...]]] = []
    real = forward._forward

    def spy(lm_, inputs, settings, budget):
        calls.append([tuple(ids) for ids, _ in inputs])
        return real(lm_, inputs, settings, budget)

    monkeypatch.setattr(forward, "_forward", spy)
    text = TEXTS[2]
    ids, _, words = tokenized(lm, text)
    empty = tuple(without(ids, [p for g in words for p in g], lm.tokenizer.mask_token_id))
    runs = {}
    for methods in (["gxi"], ["gradient"], ["gxi", "gradient"]):
        calls.clear()
        explain_reviews(lm, reviews([text]), make_settings(methods, faithfulness=True))
        (inputs,) = calls  # gradient methods only: the faithfulness phase is the one forward-only call
        assert len(inputs) == len(set(inputs))  # no copy runs twice
        assert inputs.count(tuple(ids)) == 1 and inputs.count(empty) == 1
        runs[tuple(methods)] = set(inputs)
    both = runs[("gxi", "gradient")]
    assert both == runs[("gxi",)] | runs[("gradient",)]
    # 6 words: k = 1, 1, 1, 2, 3 -> 3 comprehensiveness and 3 sufficiency copies, + full and empty
    assert len(words) == 6 and len(runs[("gxi",)]) == len(runs[("gradient",)]) == 8
    assert len(both) < len(runs[("gxi",)]) + len(runs[("gradient",)])


def test_without_the_option_records_have_no_faithfulness_key(lm):
    (e,) = explain_reviews(lm, reviews(TEXTS[:1]), make_settings(["gxi"]))
    assert e.faithfulness is None and "faithfulness" not in e.to_dict()
    (f,) = explain_reviews(lm, reviews(TEXTS[:1]), make_settings(["gxi"], faithfulness=True))
    d = json.loads(json.dumps(f.to_dict()))
    assert set(d["faithfulness"]) == {"bins", "baseline", "comprehensiveness", "sufficiency", "curve", "normalized",
                                      "full", "empty", "taucorr_loo", "reason"}
    assert Explanation.from_dict(d) == f
    assert [w.score for w in e.words] == [w.score for w in f.words]


def test_windowed_reviews_are_skipped_with_a_reason(lm):
    long = " ".join(["Great phone, terrible battery."] * 20)
    settings = make_settings(["gxi"], long_text="window", faithfulness=True)
    short, windowed = explain_reviews(lm, reviews([TEXTS[0], long]), settings)
    assert windowed.windows > 1
    assert windowed.faithfulness["comprehensiveness"] is None and "window" in windowed.faithfulness["reason"]
    assert short.windows == 1 and short.faithfulness["reason"] is None


def test_skipped_object_has_every_key_null_but_bins_baseline_and_reason():
    assert faith.skipped("unk", "windowed review", bins=(0.1, 0.5)) == {
        "bins": [0.1, 0.5], "baseline": "unk", "comprehensiveness": None, "sufficiency": None, "curve": None,
        "normalized": None, "full": None, "empty": None, "taucorr_loo": None, "reason": "windowed review"}
    assert faith.skipped("mask", "x")["bins"] == list(faith.BINS)


def test_cli_flag(bert_dir):
    from typer.testing import CliRunner

    from saliency_cli.cli import app

    res = CliRunner().invoke(app, ["explain", TEXTS[0], "--model", str(bert_dir), "--method", "gxi", "--quiet",
                                   "--faithfulness"])
    assert res.exit_code == 0, res.stderr
    (rec,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert rec["faithfulness"]["baseline"] == "mask" and len(rec["faithfulness"]["curve"]["sufficiency"]) == 5


def test_resume_refuses_a_file_written_with_the_other_faithfulness_setting(lm):
    from saliency_cli.engine import prepare
    from saliency_cli.outputs.run_check import run_check

    (e,) = explain_reviews(lm, reviews(TEXTS[:1]), make_settings(["gxi"]))
    plain = e.to_dict()
    with_it = run_check(lm.name, lm.labels, prepare(lm, make_settings(["gxi"], faithfulness=True)).settings)
    without_it = run_check(lm.name, lm.labels, prepare(lm, make_settings(["gxi"])).settings)
    assert without_it(plain) is None
    assert "faithfulness" in with_it(plain)


def test_words_are_ranked_by_their_record_scores_with_space_marker_tokens(tiny_model_dir):
    """RoBERTa's BPE has bare 'Ġ' pieces: the ranking uses the word records' sums, which leave them out."""
    from saliency_cli.model.loading import load_model
    from tests.factories import sharpened

    other = sharpened(load_model(str(tiny_model_dir("roberta")), device="cpu"))
    (e,) = explain_reviews(other, reviews(TEXTS[:1]), make_settings(["gxi"], attribute="logit", faithfulness=True))
    full, empty, comp, suff = direct(other, e, "logit", {})
    assert e.faithfulness["curve"]["comprehensiveness"] == pytest.approx(comp, abs=1e-5)
    assert e.faithfulness["curve"]["sufficiency"] == pytest.approx(suff, abs=1e-5)
    assert max(map(abs, comp + suff)) > 1e-3

"""The Shapley sample-efficiency benchmark runs end to end on the tiny model, its games are the
engine's value function, and its ``ours-before`` row is shap's KernelExplainer estimator."""

from __future__ import annotations

import itertools
import json
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("shap")
pytest.importorskip("captum")
pytest.importorskip("scipy")

from benchmarks import shapley_efficiency as bench  # noqa: E402
from benchmarks.kernel_shap_before import KernelShapBefore, Schedule  # noqa: E402
from benchmarks.shapley_games import Game, codes_of, masks_of, shapley_from_table  # noqa: E402

SHORT = ["Great phone, terrible battery.", "Works as described.", "The screen is bright and the sound is excellent."]
LONG = ["Not buying it any sooner! Other brands do a much better job", "Awful customer service; they never answered.",
        "The battery died after two days and the seller never wrote back to me"]


def write(path, texts):
    path.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
    return str(path)


def test_benchmark_on_the_tiny_model(tmp_path, bert_dir):
    out, plot = tmp_path / "shapley.json", tmp_path / "shapley.svg"
    argv = ["--model", str(bert_dir), "--short-file", write(tmp_path / "s.jsonl", SHORT),
            "--long-file", write(tmp_path / "l.jsonl", LONG), "--short-words", "3-6", "--per-length", "1",
            "--long-words", "10-14", "--long", "2", "--long-measured", "1", "--reference-samples", "200", "--reference-check", "1",
            "--budgets", "8,16,32", "--seeds", "2", "--rule-words", "6", "--rule-budgets", "8,16,64", "--rule-seeds", "2",
            "--cache", str(tmp_path / "cache"), "--out", str(out), "--plot", str(plot)]
    report = bench.main(argv)
    assert json.loads(out.read_text())["summary"].keys() == {"short", "long"}
    kinds = {r["kind"]: r["words"] for r in report["reviews"]}
    assert kinds.keys() == {"short", "long"} and 10 <= kinds["long"] <= 14
    # --long-measured 1: the first of the two long reviews in range, only
    assert [r["text"] for r in report["reviews"] if r["kind"] == "long"] == [LONG[0]] and report["long_measured"] == 1
    for kind, part in report["summary"].items():
        for name in bench.ESTIMATORS:
            for budget in (8, 16, 32):
                cell = part["table"][name][budget]
                assert "rel_error" in cell, (kind, name, budget, cell)
                assert cell["evaluations"] <= budget or name == "shap-partition"
                assert cell["efficiency_gap_max"] < 1e-4 or name == "captum-kernel-shap"
        assert set(part["ratios"]) <= set(bench.PEERS)
    rows = report["rows"]
    # with every coalition in the budget, ours is exact (short reviews of 3-5 words at 32 evaluations)
    exact = [r for r in rows if r["kind"] == "short" and r["estimator"] == "ours" and 2 ** r["words"] <= r["budget"]]
    assert exact and max(r["rel_error"] for r in exact) < 1e-9
    assert {r["evaluations"] for r in exact} == {2 ** r["words"] for r in exact}
    # every estimator was charged for what it asked: ours and shap's KernelExplainer spend the budget
    assert all(r["evaluations"] == min(r["budget"], 2 ** r["words"]) for r in rows
               if r["estimator"] in ("ours", "shap-kernel") and r["kind"] == "long")
    assert report["reference_check"] and report["reference_check"][0]["rel_difference"] < 1
    assert report["default_rule"]["per_budget"][64]["spearman"] == pytest.approx(1.0)
    svg = ET.fromstring(plot.read_text())
    assert svg.tag.endswith("svg") and len([e for e in svg.iter() if e.tag.endswith("polyline")]) == 10
    # a second run reads every value from the cache: no model evaluations
    again = bench.main(argv[:-4])
    assert again["summary"]["short"]["table"]["ours"][8]["rel_error"] == pytest.approx(
        report["summary"]["short"]["table"]["ours"][8]["rel_error"])


def test_games_are_the_engines_value_function(bert_dir, tmp_path):
    """A game's values are the pipeline's: kernel-shap through the engine, with every coalition in the
    budget, gives the game's exact Shapley values."""
    from benchmarks.shapley_games import ReviewSource
    from saliency_cli.runners.local import explain_reviews
    from saliency_cli.inputs import texts_to_reviews
    from saliency_cli.settings import make_settings

    source = ReviewSource.load(str(bert_dir))
    text = "Great phone, terrible battery."
    game = source.game(source.encodings([text])[0], tmp_path)
    exact = shapley_from_table(game.exact())
    e = explain_reviews(source.lm, texts_to_reviews([text]), make_settings(["kernel-shap"], options={"samples": 64}))[0]
    assert e.target.index == game.target and [w.word for w in e.words] == game.words
    assert [w.score for w in e.words] == pytest.approx(exact, abs=2e-6)
    loaded = source.game(source.encodings([text])[0], tmp_path)  # from the cache
    assert loaded.model_evaluations == 0 and np.array_equal(loaded.exact(), game.table)


def test_shapley_from_table_and_codes():
    rng = np.random.default_rng(0)
    m = 5
    table = rng.normal(size=2**m)
    phi = shapley_from_table(table)
    for i in range(m):  # the permutation definition
        total = 0.0
        for order in itertools.permutations(range(m)):
            before = 0
            for j in order:
                if j == i:
                    total += table[before | 1 << i] - table[before]
                    break
                before |= 1 << j
        assert phi[i] == pytest.approx(total / 120, abs=1e-12)
    masks = masks_of(np.arange(2**m, dtype=np.uint64), m)
    assert np.array_equal(codes_of(masks), np.arange(2**m))
    game = Game("k", list("abcde"), 0, "x")
    game.table = table
    session = game.session()
    session(masks[:10])
    session(masks[5:12])
    assert session.evaluations == 12 and session.rows == 17


def test_reach_interpolates_log_log():
    curve = [(32, 0.4), (64, 0.2), (128, 0.1)]
    assert bench.reach(curve, 0.2) == (pytest.approx(64), "=")
    assert bench.reach(curve, np.sqrt(0.2 * 0.1))[0] == pytest.approx(np.sqrt(64 * 128))
    assert bench.reach(curve, 0.5) == (32, "<=")
    assert bench.reach(curve, 0.05) == (pytest.approx(256), "~")
    assert bench.reach(curve, 1e-6)[1] == ">"
    assert bench.reach([(32, 0.3), (64, 0.3)], 0.1) == (None, "never")


@pytest.mark.parametrize("m", [7, 8, 11])
@pytest.mark.parametrize("nsamples", [60, 200])
def test_the_previous_estimator_is_shaps_kernel_explainer(m, nsamples):
    """shap's KernelExplainer on a synthetic model of m binary features (background all 0, input all 1):
    its coalitions (the random ones repeated as often as drawn) and values give the previous
    estimator's scores = shap's (with ``l1_reg=False``, as the benchmark runs it)."""
    shap = pytest.importorskip("shap")
    rng = np.random.default_rng(10 * m + nsamples)
    linear, pairs = rng.normal(size=m), np.triu(rng.normal(size=(m, m)), 1) * 0.5

    def f(masks):
        z = np.asarray(masks, dtype=np.float64)
        return 0.2 + z @ linear + np.einsum("ni,ij,nj->n", z, pairs, z) + 0.3 * z[:, :3].prod(1)

    state = np.random.get_state()
    np.random.seed(nsamples + m)  # shap draws from numpy's global generator
    try:
        explainer = shap.KernelExplainer(f, np.zeros((1, m)))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a singular regression in shap would make this no reference
            expected = np.ravel(explainer.explain(np.ones((1, m)), nsamples=nsamples, l1_reg=False))
    finally:
        np.random.set_state(state)
    n = explainer.nsamplesAdded
    coalitions, weights = explainer.maskMatrix[:n].astype(bool), explainer.kernelWeights[:n]
    schedule = Schedule(m, nsamples + 2)  # the estimator's samples count the empty and full coalitions too
    size = coalitions.sum(1)
    enumerated = np.minimum(size, m - size) <= schedule.full
    assert enumerated.sum() == sum(schedule.size_count(s) for s in range(1, schedule.full + 1))
    drawn = weights[~enumerated]
    unit = drawn.min() if drawn.size else 1.0
    counts = np.rint(drawn / unit).astype(int)
    assert np.allclose(drawn, counts * unit, rtol=1e-9, atol=0)  # shap's weights of drawn coalitions are counts
    rows = [np.ones(m, bool), np.zeros(m, bool), *coalitions[enumerated]]
    rows += [r for r, c in zip(coalitions[~enumerated], counts) for _ in range(c)]
    masks = np.array(rows)
    scores = KernelShapBefore().attribute(masks, f(masks), {"samples": nsamples + 2}).scores
    assert scores == pytest.approx(expected, abs=1e-10)
    assert np.abs(expected).max() > 0.1

"""--resume refuses a file whose records carry a label when the run has none, and the other way round."""

from __future__ import annotations

from saliency_cli.outputs.run_check import run_check
from saliency_cli.settings import make_settings


def record(**extra):
    return {"method": "gradient", "model": "m", "attribute": "probability", "dtype": "float32", "normalization": "none",
            "params": {},
            "prediction": {"index": 1}, "target": {"index": 1}, **extra}


def test_a_labelled_run_and_an_unlabelled_file_do_not_mix():
    settings = make_settings(["gradient"])
    labelled, plain = run_check("m", ["neg", "pos"], settings, True), run_check("m", ["neg", "pos"], settings)
    assert labelled(record(label="pos")) is None and plain(record()) is None
    assert labelled(record()) == "no label (--label-field), this run has one"
    assert plain(record(label=None)) == "a label (--label-field), this run has none"
    row = {"method": "gradient", "target": "pos", "predicted": "pos"}
    assert labelled({**row, "label": ""}) is None and plain(row) is None and labelled(row) is not None


def test_a_record_of_another_precision_or_none_is_refused_unless_the_process_cannot_know():
    settings = make_settings(["gradient"])
    check, unknown = run_check("m", ["neg", "pos"], settings), run_check("m", ["neg", "pos"], settings, check_dtype=False)
    assert check(record()) is None
    assert check(record(dtype="bfloat16")) == "dtype 'bfloat16', this run has 'float32'"
    assert check({k: v for k, v in record().items() if k != "dtype"}) == "dtype None, this run has 'float32'"
    assert unknown(record(dtype="bfloat16")) is None


LABELS = ["neg", "pos"]


def ig_record(**changes):
    r = {"id": "1", "method": "integrated-gradients", "model": "m", "attribute": "probability", "dtype": "float32",
         "normalization": "none", "params": {"steps": 50, "baseline": "pad", "rule": "gauss-legendre"},
         "prediction": {"index": 1}, "target": {"index": 1}}
    return {**r, **changes}


def test_every_setting_a_jsonl_record_carries_is_compared_and_named():
    check = run_check("m", LABELS, make_settings(["ig"]))
    assert check(ig_record()) is None
    assert check(ig_record(method="occlusion")) == "method 'occlusion', this run explains integrated-gradients"
    assert check(ig_record(model="other")) == "model 'other', this run has 'm'"
    assert check(ig_record(attribute="logit")) == "attribute 'logit', this run has 'probability'"
    assert check(ig_record(normalization="max")) == "normalization 'max', this run has 'none'"
    assert check(ig_record(faithfulness={"baseline": "mask"})) == "faithfulness True, this run has False"
    assert check(ig_record(params={"steps": 20, "baseline": "pad", "rule": "gauss-legendre"})) == (
        "integrated-gradients parameter steps=20, this run has 50")
    assert check(ig_record(target={"index": 0})) == ("target 'neg' for a review predicted 'pos', not one of this "
                                                     "run's targets (predicted)")
    assert check(ig_record(target={"index": 2})) == ("target 2 for a review predicted 'pos', not one of this "
                                                     "run's targets (predicted)")
    two = run_check("m", LABELS, make_settings(["gradient", "ig"], target=["predicted", "pos"]))
    assert two(ig_record(method="lime")) == "method 'lime', this run explains gradient, integrated-gradients"
    assert two(ig_record(target={"index": 0})).endswith("not one of this run's targets (predicted, pos)")


def test_faithfulness_baseline_and_adaptive_steps():
    settings = make_settings(["ig"], faithfulness=True, faithfulness_baseline="mask", options={"ig_tolerance": 0.05})
    check = run_check("m", LABELS, settings)
    params = {k: v for r in settings.methods for k, v in r.params.items()}
    good = ig_record(params={**params, "steps": 7}, faithfulness={"baseline": "mask"})  # adaptive: steps vary
    assert check(good) is None
    assert check({**good, "faithfulness": {"baseline": "unk"}}) == "faithfulness baseline 'unk', this run has 'mask'"
    assert check({**good, "faithfulness": None}) == "faithfulness baseline None, this run has 'mask'"
    fixed = run_check("m", LABELS, make_settings(["ig"], options={"steps": 7}))
    assert fixed(ig_record(params={"steps": 7, "baseline": "pad", "rule": "gauss-legendre"})) is None


def test_csv_rows_are_checked_by_method_and_labels_and_reviews_by_their_records():
    check = run_check("m", LABELS, make_settings(["gradient", "occlusion"], target=["all"]))
    row = {"id": "1", "method": "gradient", "target": "neg", "predicted": "pos"}
    assert check(row) is None
    assert check({**row, "target": "meh"}) == "labels 'meh'/'pos' that this model does not have"
    assert check({**row, "predicted": None}) == "labels 'neg'/None that this model does not have"
    only = run_check("m", LABELS, make_settings(["gradient"], target=["pos"]))
    assert only(row) == "target 'neg' for a review predicted 'pos', not one of this run's targets (pos)"
    whole = [{**row, "method": m, "target": t} for m in ("gradient", "occlusion") for t in LABELS]
    assert check.review(whole) is None
    assert check.review(whole[:3]) == ("review '1' has 3 method x target records, this run makes 4 (missing "
                                       "occlusion for 'pos')")
    assert check.review(whole + [{**row, "method": "random"}]) == (
        "review '1' has 5 method x target records, this run makes 4")
    jsonl_check = run_check("m", LABELS, make_settings(["ig"], target=["predicted", "neg"]))
    both = [ig_record(target={"index": t}) for t in (1, 0)]
    assert jsonl_check.review(both) is None and jsonl_check.review(both[:1]).endswith("(missing integrated-gradients "
                                                                                      "for 'neg')")

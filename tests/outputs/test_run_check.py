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

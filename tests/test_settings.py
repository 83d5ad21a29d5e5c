"""Run settings: the one table of method options, the errors that name an option by its API keyword,
and the CLI flags and Python API keywords generated from that table."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import saliency_cli
from saliency_cli.cli import app
from saliency_cli.methods import METHODS
from saliency_cli.settings import SettingError, flag_of, make_settings, method_options

runner = CliRunner()
TEXT = "Great phone, terrible battery."
KEYWORDS = {"steps", "baseline", "ig_rule", "ig_tolerance", "ig_max_steps", "samples", "noise", "seed", "features"}


def test_one_row_per_api_keyword_across_all_methods():
    table = method_options()
    assert set(table) == KEYWORDS
    every = [(m.name, p) for m in METHODS.values() for p in m.params]
    assert len(every) == sum(len(opt.uses) for opt in table.values())  # every declaration lands in one row
    for keyword, opt in table.items():
        assert opt.keyword == keyword
        assert [(m, p.keyword) for m, p in opt.uses] == [(m, p.keyword) for m, p in every if p.keyword == keyword]
        assert opt.flag == "--" + keyword.replace("_", "-")
        assert opt.type is opt.uses[0][1].type


def test_baseline_is_shared_by_integrated_gradients_and_the_perturbation_methods():
    opt = method_options()["baseline"]
    assert [m for m, _ in opt.uses] == ["integrated-gradients", "occlusion", "kernel-shap", "lime"]
    assert opt.flag == "--baseline" and opt.param == "baseline" and opt.type is str
    # the two families describe it differently, so the help names each meaning once, with its methods
    assert opt.help.startswith("integrated-gradients: pad|zero|mask")
    assert opt.help.count("mask|pad|unk|delete") == 1 and "; occlusion, kernel-shap, lime: mask|pad|unk|delete" in opt.help


def test_flags_dash_the_keyword_not_the_recorded_name():
    table = method_options()
    assert table["ig_rule"].flag == "--ig-rule" and table["ig_rule"].param == "rule"
    assert table["ig_max_steps"].flag == "--ig-max-steps" and table["ig_max_steps"].param == "max_steps"
    assert table["ig_tolerance"].flag == "--ig-tolerance" and table["ig_tolerance"].type is float
    assert table["steps"].flag == "--steps" and table["steps"].type is int
    # by API keyword or by the name recorded in params
    assert flag_of("ig_rule") == flag_of("rule") == "--ig-rule"
    assert flag_of("max_steps") == "--ig-max-steps"
    assert flag_of("batch_size") == "--batch-size"


@pytest.mark.parametrize(
    "methods,kwargs,option,fragment",
    [
        (["ig"], {"options": {"steps": 0}}, "steps", "at least 1"),
        (["ig"], {"options": {"ig_rule": "simpson"}}, "ig_rule", "unknown integration rule 'simpson'"),
        (["ig"], {"options": {"ig_rule": "riemann-trapezoid", "steps": 1}}, "ig_rule", "at least 2 steps"),
        (["ig"], {"options": {"ig_tolerance": 1.5}}, "ig_tolerance", "between 0 and 1"),
        (["ig"], {"options": {"baseline": "delete"}}, "baseline", "unknown baseline 'delete'"),
        (["occlusion"], {"options": {"baseline": "zero"}}, "baseline", "unknown baseline 'zero'"),
        (["occlusion"], {"options": {"features": "sentence"}}, "features", "unknown features 'sentence'"),
        (["sg"], {"options": {"samples": 0}}, "samples", "at least 1"),
        (["sg"], {"options": {"noise": -0.1}}, "noise", "non-negative"),
        (["ig"], {"options": {"stepz": 3}}, "stepz", "not an option"),
        (["ig"], {"attribute": "x"}, "attribute", "unknown value 'x'"),
        (["ig"], {"normalize": "z"}, "normalize", "unknown value 'z'"),
        (["ig"], {"normalization": "z"}, "normalization", "not a run option"),
        (["ig"], {"dtype": "int8"}, "dtype", "unknown value 'int8'"),
        (["ig"], {"long_text": "split"}, "long_text", "unknown value 'split'"),
        (["ig"], {"batch_size": 0}, "batch_size", "at least 1"),
        (["ig"], {"window_overlap": -1}, "window_overlap", "non-negative"),
        (["ig"], {"max_memory": 1000}, "max_memory", "at least 1 MB"),
        ([], {}, "methods", "at least one method"),
    ],
)
def test_errors_name_the_api_keyword(methods, kwargs, option, fragment):
    with pytest.raises(SettingError) as info:
        make_settings(methods, **kwargs)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.option == option
    assert fragment in err.message and str(err) == f"{option}: {err.message}"
    assert "--" not in str(err)


def test_ig_max_steps_below_one_is_rejected():
    with pytest.raises(SettingError) as info:
        make_settings(["ig"], options={"ig_tolerance": 0.1, "ig_max_steps": 0})
    assert info.value.option == "ig_max_steps"


def test_unknown_keyword_lists_the_known_ones():
    with pytest.raises(SettingError, match=r"^stepz: not an option; run options: .*methods, target, .*; method options: "
                                           r"baseline, features, ig_max_steps"):
        make_settings(["ig"], options={"stepz": 3})


def test_options_resolve_per_method_with_defaults():
    s = make_settings(["ig", "occlusion", "sg"], options={"steps": 8, "baseline": "mask", "seed": 3, "ig_rule": None})
    params = {r.method.name: dict(r.params) for r in s.methods}
    assert params == {
        "integrated-gradients": {"steps": 8, "baseline": "mask", "rule": "gauss-legendre"},
        "occlusion": {"baseline": "mask", "features": "word"},
        "smooth-grad": {"samples": 20, "noise": 0.1, "seed": 3},
    }
    adaptive = make_settings(["ig"], options={"ig_tolerance": 0.05})
    assert dict(adaptive.methods[0].params) == {
        "steps": 50, "baseline": "pad", "rule": "gauss-legendre", "tolerance": 0.05, "max_steps": 800}
    # aliases and repeats resolve to one run per method
    assert [r.method.name for r in make_settings(["IG", "integrated_gradients", "loo"]).methods] == [
        "integrated-gradients", "occlusion"]


def _explain(*args):
    return runner.invoke(app, ["explain", *args])


@pytest.mark.parametrize(
    "args,flag,fragment",
    [
        (["--steps", "0"], "--steps", "must be at least 1"),
        (["--ig-rule", "simpson"], "--ig-rule", "unknown integration rule"),
        (["--method", "occlusion", "--features", "sentence"], "--features", "unknown features"),
        (["--method", "occlusion", "--baseline", "zero"], "--baseline", "unknown baseline"),
        (["--attribute", "x"], "--attribute", "unknown value"),
        (["--long-text", "x"], "--long-text", "unknown value"),
    ],
)
def test_cli_errors_name_the_flag(bert_dir, args, flag, fragment):
    res = _explain(TEXT, "--model", str(bert_dir), *args)
    assert res.exit_code == 1
    assert res.stdout == ""
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"error: {flag}: ") and fragment in line


def test_cli_has_one_flag_per_table_row(bert_dir):
    res = _explain("--help")
    assert res.exit_code == 0
    for opt in method_options().values():
        assert opt.flag in res.stdout
    assert "--ig_rule" not in res.stdout and "--rule" not in res.stdout
    # an unknown flag is a usage error
    assert _explain(TEXT, "--model", str(bert_dir), "--stepz", "3").exit_code == 2


def test_cli_flags_reach_the_recorded_params(bert_dir):
    import json

    res = _explain(TEXT, "--model", str(bert_dir), "--method", "ig", "--method", "occlusion", "--steps", "3",
                   "--ig-rule", "riemann-middle", "--baseline", "mask", "--features", "token", "-q")
    assert res.exit_code == 0, res.stderr
    recs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [(r["method"], r["params"]) for r in recs] == [
        ("integrated-gradients", {"steps": 3, "baseline": "mask", "rule": "riemann-middle"}),
        ("occlusion", {"baseline": "mask", "features": "token"}),
    ]
    res = _explain(TEXT, "--model", str(bert_dir), "--method", "loo", "--baseline", "unk", "-q")
    assert res.exit_code == 0, res.stderr
    (rec,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert (rec["method"], rec["params"]) == ("occlusion", {"baseline": "unk", "features": "word"})


def test_cli_unknown_baseline_for_ig_alone_is_named(bert_dir):
    res = _explain(TEXT, "--model", str(bert_dir), "--baseline", "unk")
    assert res.exit_code == 1 and "error: --baseline: unknown baseline 'unk'" in res.stderr


def test_python_api_keywords(tiny_lm):
    (e,) = saliency_cli.explain(TEXT, model=tiny_lm, methods=["ig"], steps=4)
    assert e.params == {"steps": 4, "baseline": "pad", "rule": "gauss-legendre"}
    (g, o) = saliency_cli.explain(TEXT, model=tiny_lm, methods=["ig", "occlusion"], steps=2, ig_rule="riemann-left",
                                  baseline="mask", features="token")
    assert g.params == {"steps": 2, "baseline": "mask", "rule": "riemann-left"}
    assert o.params == {"baseline": "mask", "features": "token"}
    with pytest.raises(ValueError, match="^stepz: not an option"):
        saliency_cli.explain(TEXT, model=tiny_lm, methods=["ig"], stepz=4)
    with pytest.raises(ValueError, match="^steps: must be at least 1"):
        saliency_cli.explain(TEXT, model=tiny_lm, methods=["ig"], steps=0)

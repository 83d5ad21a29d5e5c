"""Mixed precision: bfloat16 on CPU for every method and for models with and without the lean attention
kernel, against float32 on models whose scores move. A bf16 run must stay within bf16's few significant
digits of float32, must differ from it (bf16 did run), and must say so in its records."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from saliency_cli.cli import app
from saliency_cli.engine.precision import attention_for, resolve_dtype, row_bytes
from saliency_cli.model.attention import NAME as LEAN
from saliency_cli.records import Review
from saliency_cli.runners.local import explain_reviews
from saliency_cli.settings import make_settings
from tests.factories import sharpened

TEXTS = ["Not buying it any sooner! Other brands do a much better job", "great",
         "The screen is bright and the sound is excellent, but the battery is awful."]
METHODS = {"grad": {}, "gxi": {}, "ig": {"steps": 8}, "sg": {"samples": 4}, "occlusion": {},
           "kernel-shap": {"samples": 32}, "lime": {"samples": 32}}
# bf16 keeps 8 bits of mantissa through every layer. Measured on these models, the largest difference
# from float32 is at most 6 % of a record's largest |score| for the gradient methods on logits; a
# perturbation score is a difference of outputs, each off by up to ~one bf16 step: on probabilities
# (at most 1) 2^-7 covers both (measured: at most 0.0035).
BF16 = 0.1
BF16_OUTPUTS = 2.0 ** -7
RAN = 1e-4  # of the largest |score|: float32 run another way (another attention kernel) differs by ~1e-6


def reviews(texts=TEXTS):
    return [Review(str(i), t, i) for i, t in enumerate(texts, start=1)]


def scores(e):
    return [t.score for t in e.tokens]


def both(lm, methods, options, attribute="logit"):
    """float32 and bfloat16 records by (id, method, target), two fixed targets (a bf16 run may predict
    another label where two are close)."""
    runs = []
    for dtype in ("float32", "bfloat16"):
        settings = make_settings(methods, options=options, target=["negative", "positive"], attribute=attribute,
                                 dtype=dtype)
        runs.append({(e.id, e.method, e.target.index): e for e in explain_reviews(lm, reviews(), settings)})
    assert runs[0].keys() == runs[1].keys()
    return runs


def assert_close_not_equal(fp32, bf16, outputs=0.0):
    """Every record within ``BF16`` of its largest |score| (plus ``outputs``) of float32, none equal."""
    assert max(max(map(abs, scores(e))) for e in fp32.values()) > 1e-2  # scores that can be told apart
    for key, e in fp32.items():
        b = bf16[key]
        assert (e.dtype, b.dtype) == ("float32", "bfloat16")
        scale = max(map(abs, scores(e)))
        diff = max(abs(x - y) for x, y in zip(scores(e), scores(b)))
        assert RAN * scale < diff <= BF16 * scale + outputs, (key, diff, scale)


@pytest.mark.parametrize("method", list(METHODS))
def test_bfloat16_stays_close_to_float32_for_every_method(sharp_lm, method):
    if method in ("grad", "gxi", "ig", "sg"):
        assert_close_not_equal(*both(sharp_lm, [method], METHODS[method]))
    else:
        assert_close_not_equal(*both(sharp_lm, [method], METHODS[method], "probability"), BF16_OUTPUTS)


@pytest.fixture(scope="module", params=["deberta-v2", "albert"])
def without_lean_kernel(request, tiny_model_dir):
    from saliency_cli.model.loading import load_model

    return sharpened(load_model(str(tiny_model_dir(request.param)), device="cpu"))


def test_bfloat16_on_models_without_the_lean_kernel(without_lean_kernel):
    lm = without_lean_kernel
    assert LEAN not in lm.variants
    for length in (4, 64):
        assert attention_for(lm, "bfloat16", length) != LEAN
    assert_close_not_equal(*both(lm, ["gxi", "ig"], {"steps": 8}))
    assert_close_not_equal(*both(lm, ["occlusion"], {}, "probability"), BF16_OUTPUTS)


def test_dtype_choices_resolve_against_the_hardware(tiny_lm):
    # auto follows the hardware fact read at model load
    assert resolve_dtype("auto", dataclasses.replace(tiny_lm, fast_bf16=True)) == "bfloat16"
    assert resolve_dtype("auto", dataclasses.replace(tiny_lm, fast_bf16=False)) == "float32"
    assert resolve_dtype("BFloat16", tiny_lm) == "bfloat16"
    with pytest.raises(ValueError, match="float16 is not supported on CPU"):
        resolve_dtype("float16", tiny_lm)


def test_bfloat16_on_cpu_uses_the_lean_attention_and_restores_the_model(sharp_lm, monkeypatch):
    assert sharp_lm.model.config._attn_implementation == "sdpa"
    assert attention_for(sharp_lm, "bfloat16", 4) == attention_for(sharp_lm, "bfloat16", 500) == LEAN
    assert attention_for(sharp_lm, "float32", 4) == "sdpa"
    # without the lean kernel: eager while 2 heads x length <= 0.025 x 32^2 (hidden 32), i.e. up to 12 tokens
    no_lean = dataclasses.replace(sharp_lm, variants={"eager": sharp_lm.variants["eager"]})
    assert attention_for(no_lean, "bfloat16", 12) == "eager"
    assert attention_for(no_lean, "bfloat16", 13) == "sdpa"
    # the lean kernel keeps its probabilities for the backward pass: the memory estimate counts them
    assert row_bytes(sharp_lm, "bfloat16", 12) > row_bytes(sharp_lm, "float32", 12)

    seen = []
    real_forward = type(sharp_lm.model).forward

    def spy(self, *args, **kwargs):
        seen.append((self.config._attn_implementation, kwargs["inputs_embeds"].shape[1]))
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(type(sharp_lm.model), "forward", spy)
    texts = ["great", "Works as described, arrived on time, good value for money and I would buy it again."]
    settings = make_settings(["ig"], options={"steps": 4}, target=["negative", "positive"], attribute="logit",
                             dtype="bfloat16", batch_size=1)
    bf16 = {(e.id, e.target.index): e for e in explain_reviews(sharp_lm, reviews(texts), settings)}
    assert {impl for impl, _ in seen} == {LEAN}
    assert sharp_lm.model.config._attn_implementation == "sdpa"  # restored
    monkeypatch.undo()
    fp32 = explain_reviews(sharp_lm, reviews(texts), make_settings(["ig"], options={"steps": 4}, attribute="logit",
                                                                   target=["negative", "positive"]))
    assert_close_not_equal({(e.id, e.target.index): e for e in fp32}, bf16)


def test_dtype_from_the_command_line_is_used_and_recorded(sharp_dir):
    def run(dtype):
        res = CliRunner().invoke(app, ["explain", TEXTS[0], "--model", str(sharp_dir), "--method", "gxi",
                                       "--method", "occlusion", "--target", "negative", "--dtype", dtype, "-q"])
        assert res.exit_code == 0, res.stderr
        return {r["method"]: r for r in map(json.loads, res.stdout.splitlines())}

    fp32, bf16 = run("float32"), run("bfloat16")
    for method, record in fp32.items():
        other = bf16[method]
        assert (record["dtype"], other["dtype"]) == ("float32", "bfloat16")
        a, b = [t["score"] for t in record["tokens"]], [t["score"] for t in other["tokens"]]
        scale = max(map(abs, a))
        assert scale > 1e-2 and RAN * scale < max(abs(x - y) for x, y in zip(a, b)) <= BF16 * scale + BF16_OUTPUTS

"""The shared score -> colour mapping."""

from __future__ import annotations

import math

import pytest

from saliency_cli.report import colors


def test_signed_endpoints_and_midpoint():
    assert colors.score_color(0.0, 1.0, signed=True) == colors.WHITE
    assert colors.score_color(1.0, 1.0, signed=True) == colors.POSITIVE_RAMP[-1]
    assert colors.score_color(-1.0, 1.0, signed=True) == colors.NEGATIVE_RAMP[-1]
    assert colors.hex_color(1.0, 1.0) == "#b35806"
    assert colors.hex_color(-1.0, 1.0) == "#2166ac"
    assert colors.hex_color(0.0, 1.0) == "#ffffff"


def test_positive_is_orange_negative_is_blue():
    r, g, b = colors.score_color(0.7, 1.0, signed=True)
    assert r > b
    r, g, b = colors.score_color(-0.7, 1.0, signed=True)
    assert b > r


def test_unsigned_endpoints_and_hue():
    assert colors.score_color(0.0, 2.0, signed=False) == colors.WHITE
    assert colors.score_color(2.0, 2.0, signed=False) == colors.SEQUENTIAL_RAMP[-1]
    # sequential: magnitude only, the sign does not matter
    assert colors.score_color(-1.0, 2.0, signed=False) == colors.score_color(1.0, 2.0, signed=False)


def test_scale_and_clipping():
    assert colors.score_color(0.5, 0.5) == colors.score_color(1.0, 1.0)
    assert colors.score_color(10.0, 1.0) == colors.score_color(1.0, 1.0)
    assert colors.score_color(-10.0, 1.0) == colors.score_color(-1.0, 1.0)
    # guards: no division by zero, NaN is neutral
    assert colors.score_color(0.3, 0.0) == colors.WHITE
    assert colors.score_color(float("nan"), 1.0) == colors.WHITE


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_monotonic_luminance(signed, sign):
    lum = [colors.relative_luminance(colors.score_color(sign * i / 50, 1.0, signed)) for i in range(51)]
    assert all(a >= b for a, b in zip(lum, lum[1:]))
    assert lum[0] > lum[-1] + 0.5


def test_sign_symmetry_of_intensity():
    for v in (0.1, 0.35, 0.8, 1.0):
        pos = colors.relative_luminance(colors.score_color(v, 1.0))
        neg = colors.relative_luminance(colors.score_color(-v, 1.0))
        assert abs(pos - neg) < 0.12, v
        assert colors.quantize(v, 1.0) == -colors.quantize(-v, 1.0)


def test_text_contrast_everywhere():
    for signed in (True, False):
        for i in range(-100, 101):
            bg = colors.score_color(i / 100, 1.0, signed)
            fg = colors.text_color_for(bg)
            assert fg in (colors.BLACK, colors.WHITE)
            assert colors.contrast_ratio(bg, fg) >= 4.5, (signed, i, bg)
    assert colors.text_color_for(colors.WHITE) == colors.BLACK
    assert colors.text_color_for(colors.score_color(1.0, 1.0, False)) == colors.WHITE


def test_contrast_ratio_reference_values():
    assert colors.contrast_ratio(colors.BLACK, colors.WHITE) == pytest.approx(21.0)
    assert colors.contrast_ratio(colors.WHITE, colors.WHITE) == pytest.approx(1.0)


def test_color_scale():
    assert colors.color_scale([0.1, -0.4, 0.2]) == pytest.approx(0.4)
    assert colors.color_scale([]) == 1.0
    assert colors.color_scale([0.0, 0.0]) == 1.0
    assert colors.color_scale([math.inf, 0.5, math.nan]) == 0.5


def test_is_signed():
    assert colors.is_signed("integrated_gradients")
    assert not colors.is_signed("gradient")
    assert not colors.is_signed("occlusion", "l1")
    assert colors.is_signed("gradient", "none", [0.2, -0.1])


def test_quantize():
    assert colors.quantize(0.0, 1.0) == 0
    assert colors.quantize(1.0, 1.0, steps=20) == 20
    assert colors.quantize(-1.0, 1.0, steps=20) == -20
    assert colors.quantize(0.5, 2.0, steps=20) == 5


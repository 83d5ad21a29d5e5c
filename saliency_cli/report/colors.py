"""Score -> colour mapping shared by the HTML report and the terminal preview.

Signed scores use a diverging blue/orange palette (the blue and orange arms of the
ColorBrewer RdBu and PuOr schemes, both listed as colour-blind safe): blue = opposes the
target label, white = no effect, orange = supports it.  Non-negative scores (the
``gradient`` method, ``l1`` normalisation) use a sequential white -> purple ramp, so an
unsigned magnitude is never mistaken for "supports".

Intensity is ``|score| / scale`` clipped to [0, 1], where ``scale`` is the largest
``|score|`` of the items being coloured together (see :func:`color_scale`).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

RGB = tuple[int, int, int]

WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)

# Ramps run from zero (index 0) to full intensity (last index), evenly spaced.
NEGATIVE_RAMP: tuple[RGB, ...] = (WHITE, (209, 229, 240), (146, 197, 222), (67, 147, 195), (33, 102, 172))
POSITIVE_RAMP: tuple[RGB, ...] = (WHITE, (254, 224, 182), (253, 184, 99), (224, 130, 20), (179, 88, 6))
SEQUENTIAL_RAMP: tuple[RGB, ...] = (WHITE, (218, 218, 235), (188, 189, 220), (158, 154, 200), (106, 81, 163), (84, 39, 143))

UNSIGNED_METHODS = frozenset({"gradient"})
UNSIGNED_NORMALIZATIONS = frozenset({"l1"})


def _interpolate(ramp: Sequence[RGB], t: float) -> RGB:
    """Linear interpolation along an evenly spaced ramp at ``t`` in [0, 1]."""
    t = min(1.0, max(0.0, t))
    pos = t * (len(ramp) - 1)
    i = min(int(pos), len(ramp) - 2)
    f = pos - i
    a, b = ramp[i], ramp[i + 1]
    return tuple(int(round(a[c] + (b[c] - a[c]) * f)) for c in range(3))  # type: ignore[return-value]


def intensity(score: float, scale: float) -> float:
    """``|score| / scale`` clipped to [0, 1]; NaN and a non-positive scale give 0."""
    if not math.isfinite(scale) or scale <= 0 or math.isnan(score):
        return 0.0
    return min(1.0, abs(score) / scale)


def score_color(score: float, scale: float, signed: bool = True) -> RGB:
    """Background RGB for ``score``: diverging blue/white/orange if ``signed``, else white -> purple."""
    t = intensity(score, scale)
    if not signed:
        return _interpolate(SEQUENTIAL_RAMP, t)
    return _interpolate(POSITIVE_RAMP if score > 0 else NEGATIVE_RAMP, t)


def to_hex(rgb: RGB) -> str:
    """``(r, g, b)`` -> ``#rrggbb``."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def hex_color(score: float, scale: float, signed: bool = True) -> str:
    """:func:`score_color` as a ``#rrggbb`` string."""
    return to_hex(score_color(score, scale, signed))


def relative_luminance(rgb: RGB) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0 = black, 1 = white)."""

    def channel(v: int) -> float:
        c = v / 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio between two colours (1 to 21)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def text_color_for(rgb: RGB) -> RGB:
    """Black or white, whichever contrasts more with the background ``rgb``."""
    return BLACK if contrast_ratio(rgb, BLACK) >= contrast_ratio(rgb, WHITE) else WHITE


def color_scale(scores: Iterable[float]) -> float:
    """Max ``|score|`` over the finite scores, or 1.0 when there is none or it is 0."""
    scale = max((abs(s) for s in scores if math.isfinite(s)), default=0.0)
    return scale if scale > 0 else 1.0


def is_signed(method: str, normalization: str = "none", scores: Iterable[float] = ()) -> bool:
    """Whether to use the diverging palette: unless the method/normalisation is unsigned and no score is negative."""
    if method in UNSIGNED_METHODS or normalization in UNSIGNED_NORMALIZATIONS:
        return any(s < 0 for s in scores)
    return True


def quantize(score: float, scale: float, steps: int = 20) -> int:
    """Colour bin of ``score``: an int in ``[-steps, steps]`` (sign kept, 0 for no effect)."""
    level = int(round(intensity(score, scale) * steps))
    return -level if score < 0 else level


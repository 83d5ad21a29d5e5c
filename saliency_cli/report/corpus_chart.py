"""The corpus page's chart: one diverging bar per word (its mean score, right = supports the group's
label, left = opposes it) with its 95 % interval as a whisker, as inline SVG.

No script and no inline style (the page's Content-Security-Policy blocks both): SVG presentation
attributes only. Every word is escaped, and each is a link to its snippets on the same page.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

from saliency_cli.report import colors
from saliency_cli.report.render import escape

WIDTH = 760
LABEL_W = 150  # the word column
VALUE_W = 64  # the mean column at the right
ROW_H = 22
TOP, BOTTOM = 8, 34
SUPPORT = colors.to_hex(colors.POSITIVE_RAMP[3])
OPPOSE = colors.to_hex(colors.NEGATIVE_RAMP[3])
UNSIGNED = colors.to_hex(colors.SEQUENTIAL_RAMP[4])


def _extent(words: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """The x range: zero, every mean and every interval end, with a little room."""
    values = [0.0]
    for w in words:
        values.append(w["mean"])
        if w["ci"] is not None:
            values.extend(w["ci"])
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        hi = lo + 1.0
    pad = 0.04 * (hi - lo)
    return lo - (pad if lo < 0 else 0.0), hi + (pad if hi > 0 else 0.0)


def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values between ``lo`` and ``hi`` (0 among them when in range)."""
    raw = (hi - lo) / max(1, n - 1)
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * step:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _row(word: Mapping[str, Any], y: float, x: Callable[[float], float], fill: str, href: str) -> str:
    """One word: its label (a link), its bar from zero to the mean, its whisker and its value."""
    mean, zero = word["mean"], x(0.0)
    left, right = sorted((zero, x(mean)))
    ci = word["ci"]
    tip = (f"{word['word']}: mean {mean:+.4f}"
           + (f", 95% CI [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "") + f", {word['reviews']:,} reviews")
    parts = [f'<a href="{escape(href)}"><text x="{LABEL_W - 8}" y="{y + 15:.1f}" text-anchor="end" font-size="13" '
             f'fill="#1d4f91">{escape(word["word"])}</text></a>',
             f'<rect x="{left:.1f}" y="{y + 4:.1f}" width="{max(right - left, 1.0):.1f}" height="{ROW_H - 8}" '
             f'fill="{fill}"><title>{escape(tip)}</title></rect>']
    if ci is not None:
        lo, hi, mid = x(ci[0]), x(ci[1]), y + ROW_H / 2
        parts.append(f'<path d="M{lo:.1f} {mid:.1f}H{hi:.1f}M{lo:.1f} {mid - 4:.1f}v8M{hi:.1f} {mid - 4:.1f}v8" '
                     f'stroke="#2e3546" stroke-width="1.3" fill="none"/>')
    parts.append(f'<text x="{WIDTH - 4}" y="{y + 15:.1f}" text-anchor="end" font-size="12" fill="#4a5263">'
                 f"{mean:+.3f}</text>")
    return "".join(parts)


def diverging_chart(support: Sequence[Mapping[str, Any]], oppose: Sequence[Mapping[str, Any]], signed: bool,
                    href: Callable[[Mapping[str, Any]], str], label: str) -> str:
    """The chart of one group: supporting words (highest mean first), a gap, then opposing words (most
    opposing first); ``href`` gives each word's link."""
    rows: list[Mapping[str, Any] | None] = [*support, *([None] if support and oppose else []), *oppose]
    lo, hi = _extent([w for w in rows if w is not None])
    plot_l, plot_r = LABEL_W, WIDTH - VALUE_W
    height = TOP + ROW_H * max(1, len(rows)) + BOTTOM

    def x(v: float) -> float:
        return plot_l + (plot_r - plot_l) * (v - lo) / (hi - lo)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
             f'role="img" aria-label="{escape(label)}">']
    base = TOP + ROW_H * max(1, len(rows))
    for t in ticks(lo, hi):
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{TOP}" y2="{base}" stroke="#e3e6eb"/>'
                     f'<text x="{x(t):.1f}" y="{base + 14}" text-anchor="middle" font-size="11" fill="#5b6475">{t:g}</text>')
    parts.append(f'<line x1="{x(0.0):.1f}" x2="{x(0.0):.1f}" y1="{TOP}" y2="{base}" stroke="#8a93a5"/>')
    caption = "mean score per review (bar) and 95% interval (whisker)"
    parts.append(f'<text x="{(plot_l + plot_r) / 2:.1f}" y="{height - 4}" text-anchor="middle" font-size="12" '
                 f'fill="#2e3546">{caption}</text>')
    for i, word in enumerate(rows):
        if word is not None:
            fill = (SUPPORT if word["mean"] >= 0 else OPPOSE) if signed else UNSIGNED
            parts.append(_row(word, TOP + i * ROW_H, x, fill, href(word)))
    parts.append("</svg>")
    return "".join(parts)

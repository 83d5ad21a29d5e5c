"""HTML of one review of the report: highlighted text, top words, probability bars, metadata.

Every string that comes from the input, the model, the tokenizer or the params goes through
:func:`escape`.  Score colours and bar widths are CSS classes (inline styles are blocked by
the page's Content-Security-Policy): scores are binned into ``colors.quantize`` steps.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any, Iterable, Sequence

from saliency_cli.report import colors
from saliency_cli.records import Explanation
from saliency_cli.report.spans import Span, spans

STEPS = 20  # colour bins per sign
TOP_WORDS = 3  # strongest items listed under each row
MAX_PROB_BARS = 8  # label probabilities drawn per review
SNIPPET_CHARS = 110


def escape(value: Any) -> str:
    """HTML-escape any value (quotes included) for text or attribute use."""
    return html.escape(str(value), quote=True)


def exact_score(score: float) -> str:
    """The score as the shortest string that reads back to the same float, with its sign."""
    text = repr(float(score))
    return text if text.startswith("-") or not math.isfinite(score) else "+" + text


def short_score(score: float) -> str:
    """The score with 3 significant digits and its sign, for display."""
    return f"{score:+.3g}" if math.isfinite(score) else str(score)


def percent(p: float) -> str:
    """A probability as a percentage with one decimal."""
    return f"{100.0 * p:.1f}%"


def width_class(fraction: float) -> str:
    """CSS class for a bar filled to ``fraction`` (0..1) in 1 % steps."""
    if not math.isfinite(fraction):
        fraction = 0.0
    return f"w{int(round(min(1.0, max(0.0, fraction)) * 100))}"


def color_class(score: float, scale: float, signed: bool) -> str:
    """CSS class of the colour bin for ``score``."""
    level = colors.quantize(score, scale, STEPS)
    if not signed:
        return f"s{abs(level)}"
    if level > 0:
        return f"p{level}"
    if level < 0:
        return f"n{-level}"
    return "z"


def format_value(value: Any) -> str:
    """A param or run-info value as compact text (strings as is, the rest as JSON)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def bar(label: str, fraction: float) -> str:
    """A horizontal bar filled to ``fraction``, labelled for screen readers."""
    return (
        f'<span class="bar" role="img" aria-label="{escape(label)} {percent(fraction)}">'
        f'<span class="{width_class(fraction)}"></span></span>'
    )


def _render_text(exp: Explanation, items: Sequence[Span], level: str, scale: float, signed: bool) -> str:
    """The review text with every item highlighted and the gaps taken from the original text."""
    text = exp.text
    n = len(text)
    parts: list[str] = []
    cursor = 0
    for start, end, score, label in items:
        start, end = max(start, cursor, 0), min(end, n)
        if end <= start:
            continue
        if start > cursor:
            parts.append(escape(text[cursor:start]))
        title = exact_score(score) if level == "word" else f"{label} {exact_score(score)}"
        parts.append(
            f'<span class="{color_class(score, scale, signed)}" title="{escape(title)}">'
            f"{escape(text[start:end])}<i> ({short_score(score)})</i></span>"
        )
        cursor = end
    if cursor < n:
        rest = escape(text[cursor:])
        if exp.truncated:
            parts.append(f'<span class="cut" title="beyond the model\'s maximum length: not seen">{rest}</span>')
        else:
            parts.append(rest)
    return "".join(parts)


def _top_items(items: Sequence[Span], text: str, signed: bool) -> str:
    """A line naming the strongest supporting/opposing (or most important) items."""

    def fmt(chosen: Iterable[Span]) -> str:
        out = []
        for start, end, score, _ in chosen:
            out.append(f"<q>{escape(text[start:end])}</q>\u00a0{escape(short_score(score))}")
        return ", ".join(out)

    finite = [it for it in items if math.isfinite(it.score)]
    if not signed:
        top = sorted(finite, key=lambda it: -abs(it.score))[:TOP_WORDS]
        return f'<span class="tl">most important:</span> {fmt(top)}' if top else ""
    pos = sorted((it for it in finite if it.score > 0), key=lambda it: -it.score)[:TOP_WORDS]
    neg = sorted((it for it in finite if it.score < 0), key=lambda it: it.score)[:TOP_WORDS]
    parts = []
    if pos:
        parts.append(f'<span class="tl">supports:</span> {fmt(pos)}')
    if neg:
        parts.append(f'<span class="tl">opposes:</span> {fmt(neg)}')
    return " <span class=\"sep\">\u00b7</span> ".join(parts)


def _facts(exp: Explanation, scale: float, signed: bool) -> str:
    """Scale, completeness delta, attributed quantity and normalisation of one row."""
    plus_minus = "\u00b1" if signed else ""
    facts = [f'<span title="largest |score| in this row: the ends of the colour scale">scale {plus_minus}{scale:.3g}</span>']
    if exp.delta is not None:
        facts.append(
            '<span title="completeness delta: sum of attributions minus (f(input) - f(baseline))">'
            f"\u0394 {escape(short_score(float(exp.delta)))}</span>"
        )
    if exp.attribute != "probability":
        facts.append(f"attribute {escape(exp.attribute)}")
    if exp.normalization != "none":
        facts.append(f"norm {escape(exp.normalization)}")
    dot = " \u00b7 "
    return f'<div class="fct">{dot.join(facts)}</div>'


def _row_meta(exp: Explanation, review_model: str, scale: float, signed: bool) -> str:
    """The left column of a row: method, target, params and facts."""
    meta = [f'<div class="mth">{escape(exp.method)}</div>', f'<div class="tgt">target <b>{escape(exp.target.label)}</b></div>']
    if exp.params:
        params = " ".join(f"{escape(k)}=<b>{escape(format_value(v))}</b>" for k, v in exp.params.items())
        meta.append(f'<div class="prm">{params}</div>')
    meta.append(_facts(exp, scale, signed))
    if exp.model != review_model:
        meta.append(f'<div class="fct">model {escape(exp.model)}</div>')
    if exp.prediction.label != exp.target.label:
        meta.append('<div class="fct">explains a non-predicted label</div>')
    return "".join(meta)


def render_row(exp: Explanation, level: str, review_model: str) -> str:
    """One explanation: method, target, params, delta and the highlighted text."""
    items = spans(exp, level)
    scores = [it.score for it in items]
    scale = colors.color_scale(scores)
    signed = colors.is_signed(exp.method, exp.normalization, scores)
    top = _top_items(items, exp.text, signed)
    palette = "signed" if signed else "unsigned"
    return (
        f'<div class="ex {palette}"><div class="exm">{_row_meta(exp, review_model, scale, signed)}</div>'
        f'<div class="exb"><p class="tx">{_render_text(exp, items, level, scale, signed)}</p>'
        + (f'<div class="top">{top}</div>' if top else "")
        + "</div></div>"
    )


def render_probs(exp: Explanation) -> str:
    """Bars with the probability of every label, in the model's label order (a star scale reads as a
    distribution); with more than ``MAX_PROB_BARS`` labels, the strongest ones, still in label order."""
    probs = list(exp.prediction.probs.items())
    strongest = set(sorted(range(len(probs)), key=lambda i: -float(probs[i][1]))[:MAX_PROB_BARS])
    rows = []
    for label, p in (kv for i, kv in enumerate(probs) if i in strongest):
        p = float(p)
        cls = "pr hit" if label == exp.prediction.label else "pr"
        rows.append(
            f'<div class="{cls}"><span class="pn">{escape(label)}</span>{bar(label, p)}<span class="pv">{percent(p)}</span></div>'
        )
    if len(probs) > MAX_PROB_BARS:
        rows.append(f'<div class="more">+{len(probs) - MAX_PROB_BARS} more labels</div>')
    return "".join(rows)


def snippet(text: str) -> str:
    """The first characters of ``text`` on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "\u2026"


def render_review(group: Sequence[Explanation], ordinal: int, label_class: str, level: str, is_open: bool) -> str:
    """A review: heading, prediction, and one aligned row per explanation."""
    first = group[0]
    pred = first.prediction
    p = float(pred.probs.get(pred.label, float("nan")))
    flags = []
    if any(e.truncated for e in group):
        dropped = max(e.dropped_tokens for e in group)
        flags.append(f'<span class="flag">truncated{f": {dropped} tokens dropped" if dropped else ""}</span>')
    row = f'<span class="row">row {escape(first.row)}</span>' if first.row is not None else ""
    if first.labelled:  # --label-field: the user's own label beside the prediction
        miss = " miss" if first.label is not None and first.label != pred.label else ""
        gold = f"label {escape(first.label)}" if first.label is not None else "no label"
        flags.insert(0, f'<span class="gold{miss}" title="your label (--label-field)">{gold}</span>')
    return (
        f'<details class="rv {label_class}" id="r{ordinal}"{" open" if is_open else ""}>'
        f'<summary><h2><span class="rid">{escape(first.id)}</span>'
        f'<span class="chip">{escape(pred.label)}</span><span class="pp">{percent(p) if math.isfinite(p) else ""}</span>'
        f'{"".join(flags)}<span class="snip">{escape(snippet(first.text))}</span></h2></summary>'
        f'<div class="rvb"><div class="pred"><div class="probs">{render_probs(first)}</div>'
        f'<div class="rmeta">{row}<span>{escape(first.model)}</span>'
        f'<a href="#r{ordinal}" title="link to this review">#</a></div></div>'
        f'<div class="rows">{"".join(render_row(e, level, first.model) for e in group)}</div></div></details>\n'
    )

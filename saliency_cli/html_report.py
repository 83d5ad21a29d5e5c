"""One self-contained HTML file with the explanations of many reviews.

Design notes:

* Streaming: each review is rendered to one small string and written to an unnamed
  temporary file as soon as its explanations are read, while counters collect what the
  summary needs.  At the end the head, summary and filters are written to ``out`` and the
  body is copied after them.  This is one pass over any iterable (a generator reading a
  JSONL file works), takes time linear in the input and memory bounded by one review, and
  writes nothing to ``out`` when the input turns out to be malformed half-way.
* Safety: every string that comes from the input, the model, the tokenizer, the params or
  ``run_info`` goes through :func:`html.escape` with ``quote=True``.  As defence in depth
  the page carries a Content-Security-Policy that forbids scripts, external resources,
  inline ``style`` attributes and every stylesheet but the page's own (by hash).  Score
  colours and bar widths are therefore CSS classes: scores are binned into
  ``colors.quantize`` steps (5 % of the row's scale each), which also keeps the file small.
* Many reviews: a label filter made of radio buttons and CSS (no JavaScript), and reviews
  after the first ``open_first`` are collapsed ``<details>`` so the page stays responsive
  with 10,000 reviews.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import math
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping, Sequence, TextIO

from saliency_cli import colors
from saliency_cli.records import SCHEMA_VERSION, Explanation, RowError

LEVELS = ("word", "token")
STEPS = 20  # colour bins per sign
OPEN_FIRST = 50  # reviews shown expanded before the rest are collapsed
TOP_WORDS = 3  # strongest items listed under each row
MAX_PROB_BARS = 8  # label probabilities drawn per review
SNIPPET_CHARS = 110


def _e(value: Any) -> str:
    """HTML-escape any value (quotes included) for text or attribute use."""
    return html.escape(str(value), quote=True)


def exact_score(score: float) -> str:
    """The score as the shortest string that reads back to the same float, with its sign."""
    text = repr(float(score))
    return text if text.startswith("-") or not math.isfinite(score) else "+" + text


def short_score(score: float) -> str:
    """The score with 3 significant digits and its sign, for display."""
    return f"{score:+.3g}" if math.isfinite(score) else str(score)


def _percent(p: float) -> str:
    """A probability as a percentage with one decimal."""
    return f"{100.0 * p:.1f}%"


def _width_class(fraction: float) -> str:
    """CSS class for a bar filled to ``fraction`` (0..1) in 1 % steps."""
    if not math.isfinite(fraction):
        fraction = 0.0
    return f"w{int(round(min(1.0, max(0.0, fraction)) * 100))}"


def _color_class(score: float, scale: float, signed: bool) -> str:
    """CSS class of the colour bin for ``score``."""
    level = colors.quantize(score, scale, STEPS)
    if not signed:
        return f"s{abs(level)}"
    if level > 0:
        return f"p{level}"
    if level < 0:
        return f"n{-level}"
    return "z"


def _format_value(value: Any) -> str:
    """A param or run-info value as compact text (strings as is, the rest as JSON)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _items(exp: Explanation, level: str) -> list[tuple[int, int, float, str | None]]:
    """``(start, end, score, token)`` of the words or non-special tokens, by position."""
    if level == "word":
        items = [(w.start, w.end, w.score, None) for w in exp.words]
    else:
        items = [(t.start, t.end, t.score, t.token) for t in exp.tokens if not t.special and t.end > t.start]
    items.sort(key=lambda it: (it[0], it[1]))
    return items


def _render_text(exp: Explanation, items: Sequence[tuple[int, int, float, str | None]], scale: float, signed: bool) -> str:
    """The review text with every item highlighted and the gaps taken from the original text."""
    text = exp.text
    n = len(text)
    parts: list[str] = []
    cursor = 0
    for start, end, score, token in items:
        start, end = max(start, cursor, 0), min(end, n)
        if end <= start:
            continue
        if start > cursor:
            parts.append(_e(text[cursor:start]))
        title = exact_score(score) if token is None else f"{token} {exact_score(score)}"
        parts.append(
            f'<span class="{_color_class(score, scale, signed)}" title="{_e(title)}">'
            f"{_e(text[start:end])}<i> ({short_score(score)})</i></span>"
        )
        cursor = end
    if cursor < n:
        rest = _e(text[cursor:])
        if exp.truncated:
            parts.append(f'<span class="cut" title="beyond the model\'s maximum length: not seen">{rest}</span>')
        else:
            parts.append(rest)
    return "".join(parts)


def _top_items(items: Sequence[tuple[int, int, float, str | None]], text: str, signed: bool) -> str:
    """A line naming the strongest supporting/opposing (or most important) items."""

    def fmt(chosen: Iterable[tuple[int, int, float, str | None]]) -> str:
        out = []
        for start, end, score, token in chosen:
            label = text[start:end] if end > start else (token or "")
            out.append(f"<q>{_e(label)}</q>\u00a0{_e(short_score(score))}")
        return ", ".join(out)

    finite = [it for it in items if math.isfinite(it[2])]
    if not signed:
        top = sorted(finite, key=lambda it: -abs(it[2]))[:TOP_WORDS]
        return f'<span class="tl">most important:</span> {fmt(top)}' if top else ""
    pos = sorted((it for it in finite if it[2] > 0), key=lambda it: -it[2])[:TOP_WORDS]
    neg = sorted((it for it in finite if it[2] < 0), key=lambda it: it[2])[:TOP_WORDS]
    parts = []
    if pos:
        parts.append(f'<span class="tl">supports:</span> {fmt(pos)}')
    if neg:
        parts.append(f'<span class="tl">opposes:</span> {fmt(neg)}')
    return " <span class=\"sep\">\u00b7</span> ".join(parts)


def _render_row(exp: Explanation, level: str, review_model: str) -> str:
    """One explanation: method, target, params, delta and the highlighted text."""
    items = _items(exp, level)
    scores = [it[2] for it in items]
    scale = colors.color_scale(scores)
    signed = colors.is_signed(exp.method, exp.normalization, scores)
    meta = [f'<div class="mth">{_e(exp.method)}</div>', f'<div class="tgt">target <b>{_e(exp.target.label)}</b></div>']
    if exp.params:
        params = " ".join(f"{_e(k)}=<b>{_e(_format_value(v))}</b>" for k, v in exp.params.items())
        meta.append(f'<div class="prm">{params}</div>')
    plus_minus = "\u00b1" if signed else ""
    facts = [f'<span title="largest |score| in this row: the ends of the colour scale">scale {plus_minus}{scale:.3g}</span>']
    if exp.delta is not None:
        facts.append(
            '<span title="completeness delta: sum of attributions minus (f(input) - f(baseline))">'
            f"\u0394 {_e(short_score(float(exp.delta)))}</span>"
        )
    if exp.attribute != "probability":
        facts.append(f"attribute {_e(exp.attribute)}")
    if exp.normalization != "none":
        facts.append(f"norm {_e(exp.normalization)}")
    dot = " \u00b7 "
    meta.append(f'<div class="fct">{dot.join(facts)}</div>')
    if exp.model != review_model:
        meta.append(f'<div class="fct">model {_e(exp.model)}</div>')
    if exp.prediction.label != exp.target.label:
        meta.append('<div class="fct">explains a non-predicted label</div>')
    top = _top_items(items, exp.text, signed)
    palette = "signed" if signed else "unsigned"
    return (
        f'<div class="ex {palette}"><div class="exm">{"".join(meta)}</div>'
        f'<div class="exb"><p class="tx">{_render_text(exp, items, scale, signed)}</p>'
        + (f'<div class="top">{top}</div>' if top else "")
        + "</div></div>"
    )


def _render_probs(exp: Explanation) -> str:
    """Bars with the probability of every label (the strongest first)."""
    probs = sorted(exp.prediction.probs.items(), key=lambda kv: -float(kv[1]))
    rows = []
    for label, p in probs[:MAX_PROB_BARS]:
        p = float(p)
        cls = "pr hit" if label == exp.prediction.label else "pr"
        rows.append(
            f'<div class="{cls}"><span class="pn">{_e(label)}</span>'
            f'<span class="bar" role="img" aria-label="{_e(label)} {_percent(p)}"><span class="{_width_class(p)}"></span></span>'
            f'<span class="pv">{_percent(p)}</span></div>'
        )
    if len(probs) > MAX_PROB_BARS:
        rows.append(f'<div class="more">+{len(probs) - MAX_PROB_BARS} more labels</div>')
    return "".join(rows)


def _snippet(text: str) -> str:
    """The first characters of ``text`` on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "\u2026"


def _render_review(group: Sequence[Explanation], ordinal: int, label_class: str, level: str, is_open: bool) -> str:
    """A review: heading, prediction, and one aligned row per explanation."""
    first = group[0]
    pred = first.prediction
    p = float(pred.probs.get(pred.label, float("nan")))
    flags = []
    if any(e.truncated for e in group):
        dropped = max(e.dropped_tokens for e in group)
        flags.append(f'<span class="flag">truncated{f": {dropped} tokens dropped" if dropped else ""}</span>')
    row = f'<span class="row">row {_e(first.row)}</span>' if first.row is not None else ""
    return (
        f'<details class="rv {label_class}" id="r{ordinal}"{" open" if is_open else ""}>'
        f'<summary><h2><span class="rid">{_e(first.id)}</span>'
        f'<span class="chip">{_e(pred.label)}</span><span class="pp">{_percent(p) if math.isfinite(p) else ""}</span>'
        f'{"".join(flags)}<span class="snip">{_e(_snippet(first.text))}</span></h2></summary>'
        f'<div class="rvb"><div class="pred"><div class="probs">{_render_probs(first)}</div>'
        f'<div class="rmeta">{row}<span>{_e(first.model)}</span>'
        f'<a href="#r{ordinal}" title="link to this review">#</a></div></div>'
        f'<div class="rows">{"".join(_render_row(e, level, first.model) for e in group)}</div></div></details>\n'
    )


class _Stats:
    """Counters for the summary, filled while reviews stream by."""

    def __init__(self) -> None:
        self.reviews = 0
        self.explanations = 0
        self.labels: Counter[str] = Counter()
        self.label_ids: dict[str, int] = {}
        self.models: Counter[str] = Counter()
        self.methods: Counter[str] = Counter()
        self.targets: Counter[str] = Counter()
        self.attributes: Counter[str] = Counter()
        self.normalizations: Counter[str] = Counter()
        self.truncated = 0
        self.signed = False
        self.unsigned = False

    def label_class(self, label: str) -> str:
        """Stable CSS class for a predicted label (``L0``, ``L1``, ... by first appearance)."""
        if label not in self.label_ids:
            self.label_ids[label] = len(self.label_ids)
        return f"L{self.label_ids[label]}"

    def add(self, group: Sequence[Explanation]) -> None:
        """Count one review and its explanations."""
        self.reviews += 1
        self.labels[group[0].prediction.label] += 1
        self.truncated += any(e.truncated for e in group)
        for e in group:
            self.explanations += 1
            self.models[e.model] += 1
            self.methods[e.method] += 1
            self.targets[e.target.label] += 1
            self.attributes[e.attribute] += 1
            self.normalizations[e.normalization] += 1
            if colors.is_signed(e.method, e.normalization, (t.score for t in e.tokens if not t.special)):
                self.signed = True
            else:
                self.unsigned = True


def _color_css() -> str:
    """CSS classes for every colour bin and bar width (inline styles are blocked by the CSP)."""
    rules = []
    for k in range(1, STEPS + 1):
        for prefix, value, signed in (("p", k / STEPS, True), ("n", -k / STEPS, True), ("s", k / STEPS, False)):
            rgb = colors.score_color(value, 1.0, signed)
            fg = colors.to_hex(colors.text_color_for(rgb))
            rules.append(f".{prefix}{k}{{background:{colors.to_hex(rgb)};color:{fg}}}")
    rules.append(".z,.s0{background:#fff;color:#000}")
    rules.extend(f".w{i}{{width:{i}%}}" for i in range(101))
    return "\n".join(rules)


BASE_CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#f5f6f8;color:#1d2330;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.wrap{max-width:1180px;margin:0 auto;padding:0 20px}
header.hd{background:#fff;border-bottom:1px solid #dde1e7;padding:22px 0 14px}
h1{font-size:22px;margin:0 0 2px;font-weight:650;letter-spacing:-.01em}
.sub{color:#5b6475;margin:0 0 16px;font-size:14px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(250px,1fr));gap:12px}
.card{border:1px solid #e3e6eb;border-radius:8px;padding:10px 14px;background:#fbfcfd;min-width:0;font-size:13.5px}
.card h3{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:#6b7385;margin:0 0 6px;font-weight:600}
.card ul{list-style:none;margin:0;padding:0}
.card li{display:flex;justify-content:space-between;gap:10px;padding:1px 0;overflow-wrap:anywhere}
.card li b{font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap;overflow-wrap:normal;flex:none}
.card dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:1px 12px}
.card dt{color:#6b7385}.card dd{margin:0;overflow-wrap:anywhere;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
.dist .pr{grid-template-columns:minmax(60px,40%) minmax(40px,1fr) auto}
.legend{display:flex;flex-wrap:wrap;gap:10px 34px;align-items:flex-start;margin-top:14px;color:#4a5263;font-size:13px}
.lg{display:grid;grid-template-columns:auto;gap:2px}
.lg .ramp{display:flex;height:14px;width:280px;border:1px solid #cfd4dc;border-radius:3px;overflow:hidden}
.lg .ramp span{flex:1}
.lg .ends{display:flex;justify-content:space-between;width:280px;font-size:12px;color:#6b7385}
.lg .cap{font-weight:600;color:#2e3546}
.note{max-width:520px;font-size:12.5px;color:#6b7385;align-self:center}
.flt{position:absolute;opacity:0;width:1px;height:1px;margin:0}
nav.filters{position:sticky;top:0;z-index:2;background:rgba(245,246,248,.96);border-bottom:1px solid #dde1e7;padding:9px 0}
nav.filters .wrap{display:flex;flex-wrap:wrap;gap:6px;align-items:center}
nav.filters .lbl{color:#6b7385;font-size:13px;margin-right:4px}
nav.filters label{cursor:pointer;border:1px solid #cdd3dc;background:#fff;border-radius:999px;padding:2px 11px;font-size:13px;user-select:none}
nav.filters label:hover{border-color:#8a93a5}
nav.filters label b{font-weight:600;color:#6b7385;margin-left:4px;font-variant-numeric:tabular-nums}
main{padding:14px 0 30px}
details.rv{background:#fff;border:1px solid #dde1e7;border-radius:8px;margin:0 0 10px}
details.rv[open]{box-shadow:0 1px 2px rgba(20,30,50,.05)}
summary{cursor:pointer;padding:9px 14px}
summary:focus-visible{outline:2px solid #4393c3;outline-offset:-2px;border-radius:8px}
summary::-webkit-details-marker{color:#8a93a5}
summary h2{display:inline-flex;flex-wrap:wrap;align-items:baseline;gap:4px 10px;margin:0;font-size:15px;font-weight:500;vertical-align:top;max-width:calc(100% - 20px)}
.rid{font-weight:650;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:14px;overflow-wrap:anywhere}
.chip{background:#2e3546;color:#fff;border-radius:4px;padding:0 7px;font-size:13px;font-weight:600}
.pp{color:#5b6475;font-size:13px;font-variant-numeric:tabular-nums}
.flag{background:#fff3cd;color:#664d03;border:1px solid #f0d98a;border-radius:4px;padding:0 6px;font-size:12px}
.snip{color:#6b7385;font-size:13.5px;flex-basis:100%}
details[open] .snip{display:none}
.rvb{padding:2px 14px 12px}
.pred{display:flex;flex-wrap:wrap;justify-content:space-between;gap:6px 24px;padding:6px 0 10px;border-bottom:1px solid #eef0f3}
.probs{flex:1 1 360px;max-width:520px}
.pr{display:grid;grid-template-columns:minmax(70px,30%) 1fr 52px;gap:8px;align-items:center;font-size:13px;color:#4a5263}
.pr .pn{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.pr.hit .pn{font-weight:650;color:#1d2330}
.bar{height:8px;background:#eceef2;border-radius:4px;overflow:hidden;display:block}
.bar span{display:block;height:100%;background:#9aa3b2}
.pr.hit .bar span{background:#2e3546}
.pv{text-align:right;font-variant-numeric:tabular-nums}
.more{font-size:12px;color:#6b7385}
.rmeta{display:flex;gap:12px;align-items:baseline;font-size:12.5px;color:#6b7385;overflow-wrap:anywhere}
.rmeta a{color:#8a93a5;text-decoration:none}
.ex{display:grid;grid-template-columns:200px minmax(0,1fr);gap:16px;padding:12px 0;border-bottom:1px solid #eef0f3}
.ex:last-child{border-bottom:0;padding-bottom:2px}
.exm{font-size:12.5px;color:#5b6475;overflow-wrap:anywhere;min-width:0}
.mth{font-size:14px;font-weight:650;color:#1d2330;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.tgt b{color:#1d2330}
.prm{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.prm b{font-weight:500;color:#1d2330}
.tx{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;line-height:1.85;font-size:15.5px}
.tx span{border-radius:3px;padding:1px 0;box-decoration-break:clone;-webkit-box-decoration-break:clone}
.tx i{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);clip-path:inset(50%);white-space:nowrap}
.tx .cut{color:#8a93a5;background:repeating-linear-gradient(135deg,#f3f4f6 0 6px,#fff 6px 12px)}
.top{margin-top:6px;font-size:12.5px;color:#4a5263}
.top .tl{color:#6b7385}
.top q{quotes:"\\201C" "\\201D";font-weight:600;color:#1d2330}
.top .sep{color:#aab1be;margin:0 4px}
footer{color:#8a93a5;font-size:12px;padding:10px 0 30px}
.empty{color:#6b7385;padding:20px 0}
@media (max-width:760px){.ex{grid-template-columns:1fr;gap:4px}}
@media print{
  body{background:#fff;font-size:10pt}
  nav.filters,.rmeta a{display:none}
  header.hd{border:0;padding-top:0}
  details.rv{break-inside:avoid;border-color:#bbb;box-shadow:none}
  summary{list-style:none}
  summary::-webkit-details-marker{display:none}
  .snip{display:none}
  *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""

# Kept apart: a browser that does not know ::details-content drops only this rule.
PRINT_OPEN_CSS = "@media print{details.rv::details-content{content-visibility:visible;display:block}}"


def _filter_css(stats: _Stats) -> str:
    """CSS that hides the reviews of other labels when a filter radio is checked."""
    rules = ["#fall:checked~nav label[for=fall]"]
    css = []
    for label, idx in stats.label_ids.items():
        css.append(f"#f{idx}:checked~main .rv:not(.L{idx}){{display:none}}")
        rules.append(f"#f{idx}:checked~nav label[for=f{idx}]")
    css.append(",".join(rules) + "{background:#2e3546;border-color:#2e3546;color:#fff}")
    css.append(",".join(r + " b" for r in rules) + "{color:#c9cfda}")
    focus = ["#fall:focus-visible~nav label[for=fall]"] + [
        f"#f{idx}:focus-visible~nav label[for=f{idx}]" for idx in stats.label_ids.values()
    ]
    css.append(",".join(focus) + "{outline:2px solid #4393c3;outline-offset:2px}")
    return "\n".join(css)


def _legend(stats: _Stats) -> str:
    """The colour scales in use, with what their ends mean."""
    blocks = []
    if stats.signed or not stats.unsigned:
        cells = "".join(f'<span class="{_color_class(k / STEPS, 1.0, True)}"></span>' for k in range(-STEPS, STEPS + 1, 2))
        blocks.append(
            '<div class="lg"><span class="cap">Signed attribution</span>'
            f'<span class="ramp" role="img" aria-label="blue: opposes the target label, white: no effect, orange: supports it">{cells}</span>'
            '<span class="ends"><span>\u2212scale \u00b7 opposes</span><span>0</span><span>supports \u00b7 +scale</span></span></div>'
        )
    if stats.unsigned:
        cells = "".join(f'<span class="{_color_class(k / STEPS, 1.0, False)}"></span>' for k in range(0, STEPS + 1))
        blocks.append(
            '<div class="lg"><span class="cap">Unsigned importance</span>'
            f'<span class="ramp" role="img" aria-label="white: no importance, purple: most important">{cells}</span>'
            '<span class="ends"><span>0</span><span>scale</span></span></div>'
        )
    blocks.append(
        '<p class="note">Colour intensity is relative to each row\u2019s largest |score| (its <em>scale</em>). '
        "Hover a word for its exact score. Hatched text lay beyond the model\u2019s maximum length.</p>"
    )
    return f'<section class="legend" aria-label="legend">{"".join(blocks)}</section>'


def _counter_card(title: str, counter: Counter[str]) -> str:
    """A summary card listing a counter, most common first."""
    items = "".join(f"<li><span>{_e(k)}</span><b>{v:,}</b></li>" for k, v in counter.most_common(12))
    if len(counter) > 12:
        items += f"<li><span>\u2026 {len(counter) - 12} more</span></li>"
    return f'<div class="card"><h3>{_e(title)}</h3><ul>{items}</ul></div>'


def _summary(stats: _Stats, run_info: Mapping[str, Any] | None, errors: Sequence[RowError]) -> str:
    """Cards with the label distribution, models, methods, targets and run settings."""
    cards = []
    dist = []
    for label, n in stats.labels.most_common():
        frac = n / stats.reviews if stats.reviews else 0.0
        dist.append(
            f'<div class="pr"><span class="pn">{_e(label)}</span>'
            f'<span class="bar" role="img" aria-label="{_e(label)} {_percent(frac)}"><span class="{_width_class(frac)}"></span></span>'
            f'<span class="pv">{n:,} \u00b7 {_percent(frac)}</span></div>'
        )
    cards.append(f'<div class="card dist"><h3>Predicted labels</h3>{"".join(dist) or "none"}</div>')
    cards.append(_counter_card("Models", stats.models))
    cards.append(_counter_card("Methods (explanations)", stats.methods))
    cards.append(_counter_card("Targets explained", stats.targets))
    settings: dict[str, Any] = {}
    if len(stats.attributes) == 1:
        settings["attribute"] = next(iter(stats.attributes))
    if len(stats.normalizations) == 1:
        settings["normalization"] = next(iter(stats.normalizations))
    settings["truncated reviews"] = stats.truncated
    if errors:
        settings["failed rows"] = len(errors)
    settings.update(run_info or {})
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(_format_value(v))}</dd>" for k, v in settings.items())
    cards.append(f'<div class="card"><h3>Run settings</h3><dl>{dl}</dl></div>')
    if errors:
        shown = "".join(
            f"<li><span>row {_e(err.row)}{f' ({_e(err.id)})' if err.id is not None else ''}: {_e(err.error)}</span></li>"
            for err in errors[:20]
        )
        more = f"<li><span>\u2026 {len(errors) - 20} more</span></li>" if len(errors) > 20 else ""
        cards.append(f'<div class="card"><h3>Failed rows</h3><ul>{shown}{more}</ul></div>')
    return f'<section class="cards" aria-label="summary">{"".join(cards)}</section>'


def _csp_hash(css: str) -> str:
    """CSP source expression allowing exactly this stylesheet."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii") + "'"


def _head(stats: _Stats, css: str, title: str) -> str:
    """Doctype, CSP and the stylesheet."""
    csp = (
        f"default-src 'none'; style-src {_csp_hash(css)}; script-src 'none'; img-src 'none'; "
        "font-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="saliency-cli">\n'
        f"<title>{_e(title)}</title>\n<style>{css}</style>\n</head>\n"
    )


def _top(stats: _Stats, run_info: Mapping[str, Any] | None, errors: Sequence[RowError], level: str) -> str:
    """Everything before the reviews: header, summary, legend and label filters."""
    models = ", ".join(stats.models) if len(stats.models) <= 3 else f"{len(stats.models)} models"
    sub = (
        f"{stats.reviews:,} review{'s' if stats.reviews != 1 else ''} \u00b7 {stats.explanations:,} "
        f"explanation{'s' if stats.explanations != 1 else ''} \u00b7 {_e(models) or 'no model'} \u00b7 {level} level"
    )
    radios = '<input type="radio" name="flt" id="fall" class="flt" checked aria-label="all labels">' + "".join(
        f'<input type="radio" name="flt" id="f{idx}" class="flt" aria-label="{_e(label)}">'
        for label, idx in stats.label_ids.items()
    )
    chips = f'<label for="fall">All<b>{stats.reviews:,}</b></label>' + "".join(
        f'<label for="f{stats.label_ids[label]}">{_e(label)}<b>{n:,}</b></label>' for label, n in stats.labels.most_common()
    )
    return (
        f'<body>\n<header class="hd"><div class="wrap"><h1>Saliency report</h1><p class="sub">{sub}</p>'
        f"{_summary(stats, run_info, errors)}{_legend(stats)}</div></header>\n{radios}\n"
        f'<nav class="filters" aria-label="filter by predicted label"><div class="wrap">'
        f'<span class="lbl">Predicted label:</span>{chips}</div></nav>\n<main class="wrap">\n'
    )


def _groups(explanations: Iterable[Explanation]) -> Iterator[list[Explanation]]:
    """Consecutive explanations sharing an id, as lists."""
    for _, group in itertools.groupby(explanations, key=lambda e: e.id):
        yield list(group)


def write_html_report(
    explanations: Iterable[Explanation],
    out: str | Path | TextIO,
    *,
    run_info: Mapping[str, Any] | None = None,
    level: str = "word",
    open_first: int = OPEN_FIRST,
    errors: Sequence[RowError] | None = None,
    title: str = "Saliency report",
) -> int:
    """Write one self-contained HTML report of ``explanations`` to ``out``; returns the number of reviews.

    Consecutive explanations with the same ``id`` form one review (methods/targets shown as
    aligned rows).  ``errors`` (read only after ``explanations`` is exhausted, so a list
    filled by a generator works) are listed in the summary.  A path is written atomically.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    stats = _Stats()
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="surrogatepass") as body:
        for group in _groups(explanations):
            cls = stats.label_class(group[0].prediction.label)
            body.write(_render_review(group, stats.reviews, cls, level, stats.reviews < open_first))
            stats.add(group)
        errs = list(errors or [])
        css = BASE_CSS + _color_css() + "\n" + _filter_css(stats) + "\n" + PRINT_OPEN_CSS
        empty = '<p class="empty">No explanations.</p>' if stats.reviews == 0 else ""
        tail = (
            f"{empty}</main>\n<footer class=\"wrap\">Generated by saliency-cli \u00b7 JSONL schema {SCHEMA_VERSION}"
            "</footer>\n</body>\n</html>\n"
        )

        def emit(fh: IO[str]) -> None:
            fh.write(_head(stats, css, f"{title} \u2014 {stats.reviews:,} reviews"))
            fh.write(_top(stats, run_info, errs, level))
            body.seek(0)
            shutil.copyfileobj(body, fh, 1 << 20)
            fh.write(tail)

        if isinstance(out, (str, os.PathLike)):
            path = Path(out)
            tmp = path.with_name(f".{path.name}.part")
            try:
                with open(tmp, "w", encoding="utf-8", errors="replace") as fh:
                    emit(fh)
                os.replace(tmp, path)
            finally:
                if tmp.exists():
                    tmp.unlink()
        else:
            emit(out)
    return stats.reviews


def _read_jsonl(path: Path, errors: list[RowError]) -> Iterator[Explanation]:
    """Explanations from a results JSONL file; error records go to ``errors``; bad lines raise ValueError."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
            if "error" in record and "method" not in record:
                errors.append(RowError(int(record.get("row") or 0), record.get("id"), str(record["error"])))
                continue
            schema = record.get("schema", SCHEMA_VERSION)
            if schema != SCHEMA_VERSION:
                raise ValueError(f"{path}:{lineno}: unsupported schema version {schema!r} (expected {SCHEMA_VERSION})")
            try:
                yield Explanation.from_dict(record)
            except (KeyError, TypeError, ValueError) as exc:
                what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
                raise ValueError(f"{path}:{lineno}: not an explanation record: {what}") from None


def render_report_from_jsonl(
    jsonl_path: str | Path,
    out_path: str | Path,
    level: str = "word",
    *,
    run_info: Mapping[str, Any] | None = None,
    open_first: int = OPEN_FIRST,
) -> int:
    """Render a saved results JSONL file to an HTML report; returns the number of reviews.

    Reads line by line.  Blank lines are skipped; ``{"row", "id", "error"}`` records are
    listed as failed rows; any other malformed line raises ``ValueError`` naming the file
    and line number, and then no report is written.
    """
    path = Path(jsonl_path)
    errors: list[RowError] = []
    info = {"source": path.name, **(run_info or {})}
    return write_html_report(
        _read_jsonl(path, errors), out_path, run_info=info, level=level, open_first=open_first, errors=errors
    )

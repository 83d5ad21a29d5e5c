"""The parts of the report around the reviews: stylesheet, head, summary, legend and filters.

The static stylesheet is the package file ``report.css``; the colour classes, the label
filters and the print rule are generated here.  The page's Content-Security-Policy allows
exactly the final stylesheet, by its SHA-256 hash.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections import Counter
from importlib import resources
from typing import Any, Mapping, Sequence

from saliency_cli.report import colors
from saliency_cli.report.render import STEPS, bar, color_class, escape, format_value, percent
from saliency_cli.records import SCHEMA_VERSION, Explanation, RowError

# Kept apart: a browser that does not know ::details-content drops only this rule.
PRINT_OPEN_CSS = "@media print{details.rv::details-content{content-visibility:visible;display:block}}"
SHOWN_ERRORS = 20  # failed rows listed in the summary
CARD_ITEMS = 12  # entries listed per summary card


class ReportStats:
    """Counters for the summary, filled while reviews stream by."""

    def __init__(self) -> None:
        self.reviews = 0
        self.explanations = 0
        self.labels: Counter[str] = Counter()
        self.label_order: dict[str, int] = {}  # the model's label order, as the probabilities list it
        self.label_ids: dict[str, int] = {}
        self.models: Counter[str] = Counter()
        self.methods: Counter[str] = Counter()
        self.targets: Counter[str] = Counter()
        self.attributes: Counter[str] = Counter()
        self.dtypes: Counter[str] = Counter()
        self.normalizations: Counter[str] = Counter()
        self.truncated = 0
        self.signed = False
        self.unsigned = False
        self.errors: list[RowError] = []  # the first SHOWN_ERRORS
        self.error_count = 0
        self.gold = self.gold_agree = 0  # reviews with the user's own label, and those the model agrees with

    def label_class(self, label: str) -> str:
        """Stable CSS class for a predicted label (``L0``, ``L1``, ... by first appearance)."""
        if label not in self.label_ids:
            self.label_ids[label] = len(self.label_ids)
        return f"L{self.label_ids[label]}"

    def add(self, group: Sequence[Explanation]) -> None:
        """Count one review and its explanations."""
        self.reviews += 1
        self.labels[group[0].prediction.label] += 1
        for label in (*group[0].prediction.probs, group[0].prediction.label):
            self.label_order.setdefault(label, len(self.label_order))
        self.truncated += any(e.truncated for e in group)
        if group[0].label is not None:
            self.gold += 1
            self.gold_agree += group[0].label == group[0].prediction.label
        for e in group:
            self.explanations += 1
            self.models[e.model or "unknown (from CSV)"] += 1
            self.methods[e.method] += 1
            self.targets[e.target.label] += 1
            self.attributes[e.attribute] += 1
            self.dtypes[e.dtype or "not recorded"] += 1
            self.normalizations[e.normalization] += 1
            scores = [t.score for t in e.tokens if not t.special] or [w.score for w in e.words]
            if colors.is_signed(e.method, e.normalization, scores):
                self.signed = True
            else:
                self.unsigned = True

    def add_error(self, error: RowError) -> None:
        """Count a failed row (the first few are kept to be listed)."""
        self.error_count += 1
        if len(self.errors) < SHOWN_ERRORS:
            self.errors.append(error)


@functools.lru_cache(maxsize=None)
def base_css() -> str:
    """The static stylesheet (package data ``report.css``) and the colour classes."""
    static = resources.files("saliency_cli.report").joinpath("report.css").read_text(encoding="utf-8")
    return "\n" + static + _color_css()


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


def _filter_css(stats: ReportStats) -> str:
    """CSS that hides the reviews of other labels when a filter radio is checked."""
    rules = ["#fall:checked~nav label[for=fall]"]
    css = []
    for idx in stats.label_ids.values():
        css.append(f"#f{idx}:checked~main .rv:not(.L{idx}){{display:none}}")
        rules.append(f"#f{idx}:checked~nav label[for=f{idx}]")
    css.append(",".join(rules) + "{background:#2e3546;border-color:#2e3546;color:#fff}")
    css.append(",".join(r + " b" for r in rules) + "{color:#c9cfda}")
    focus = ["#fall:focus-visible~nav label[for=fall]"] + [
        f"#f{idx}:focus-visible~nav label[for=f{idx}]" for idx in stats.label_ids.values()
    ]
    css.append(",".join(focus) + "{outline:2px solid #4393c3;outline-offset:2px}")
    return "\n".join(css)


def stylesheet(stats: ReportStats) -> str:
    """The page's whole stylesheet."""
    return base_css() + "\n" + _filter_css(stats) + "\n" + PRINT_OPEN_CSS


def _legend(stats: ReportStats) -> str:
    """The colour scales in use, with what their ends mean."""
    blocks = []
    if stats.signed or not stats.unsigned:
        cells = "".join(f'<span class="{color_class(k / STEPS, 1.0, True)}"></span>' for k in range(-STEPS, STEPS + 1, 2))
        blocks.append(
            '<div class="lg"><span class="cap">Signed attribution</span>'
            f'<span class="ramp" role="img" aria-label="blue: opposes the target label, white: no effect, orange: supports it">{cells}</span>'
            '<span class="ends"><span>\u2212scale \u00b7 opposes</span><span>0</span><span>supports \u00b7 +scale</span></span></div>'
        )
    if stats.unsigned:
        cells = "".join(f'<span class="{color_class(k / STEPS, 1.0, False)}"></span>' for k in range(0, STEPS + 1))
        blocks.append(
            '<div class="lg"><span class="cap">Unsigned importance</span>'
            f'<span class="ramp" role="img" aria-label="white: no importance, purple: most important">{cells}</span>'
            '<span class="ends"><span>0</span><span>scale</span></span></div>'
        )
    blocks.append(
        '<p class="note">Colour intensity is relative to each row\u2019s largest |score| (its <em>scale</em>). '
        "Hover a word for its exact score. Hatched text lies beyond the model\u2019s maximum length and was not seen.</p>"
    )
    return f'<section class="legend" aria-label="legend">{"".join(blocks)}</section>'


def _in_label_order(stats: ReportStats) -> list[tuple[str, int]]:
    """The predicted labels with their counts, in the model's label order (a star scale reads 1 to 5)."""
    return sorted(stats.labels.items(), key=lambda kv: stats.label_order[kv[0]])


def _counter_card(title: str, counter: Counter[str]) -> str:
    """A summary card listing a counter, most common first."""
    items = "".join(f"<li><span>{escape(k)}</span><b>{v:,}</b></li>" for k, v in counter.most_common(CARD_ITEMS))
    if len(counter) > CARD_ITEMS:
        items += f"<li><span>\u2026 {len(counter) - CARD_ITEMS} more</span></li>"
    return f'<div class="card"><h3>{escape(title)}</h3><ul>{items}</ul></div>'


def _distribution_card(stats: ReportStats) -> str:
    """Bars of the predicted-label distribution."""
    dist = []
    for label, n in _in_label_order(stats):
        frac = n / stats.reviews if stats.reviews else 0.0
        dist.append(
            f'<div class="pr"><span class="pn">{escape(label)}</span>{bar(label, frac)}'
            f'<span class="pv">{n:,} \u00b7 {percent(frac)}</span></div>'
        )
    return f'<div class="card dist"><h3>Predicted labels</h3>{"".join(dist) or "none"}</div>'


def _settings_card(stats: ReportStats, run_info: Mapping[str, Any] | None) -> str:
    """Run settings: the attribute and normalisation when shared, counts, then ``run_info``."""
    settings: dict[str, Any] = {}
    if len(stats.attributes) == 1:
        settings["attribute"] = next(iter(stats.attributes))
    if stats.dtypes:  # the precision every explanation states it was made in
        settings["precision"] = ", ".join(stats.dtypes)
    if len(stats.normalizations) == 1:
        settings["normalization"] = next(iter(stats.normalizations))
    settings["truncated reviews"] = stats.truncated
    if stats.gold:
        settings["your labels"] = f"{stats.gold_agree:,} of {stats.gold:,} agree with the prediction"
    if stats.error_count:
        settings["failed rows"] = stats.error_count
    settings.update(run_info or {})
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(format_value(v))}</dd>" for k, v in settings.items())
    return f'<div class="card wide"><h3>Run settings</h3><dl>{dl}</dl></div>'


def _errors_card(stats: ReportStats) -> str:
    """The first failed rows with their reasons."""
    shown = "".join(
        f"<li><span>row {escape(err.row)}{f' ({escape(err.id)})' if err.id is not None else ''}: {escape(err.error)}</span></li>"
        for err in stats.errors
    )
    hidden = stats.error_count - len(stats.errors)
    more = f"<li><span>\u2026 {hidden} more</span></li>" if hidden > 0 else ""
    return f'<div class="card"><h3>Failed rows</h3><ul>{shown}{more}</ul></div>'


def _summary(stats: ReportStats, run_info: Mapping[str, Any] | None) -> str:
    """Cards with the label distribution, models, methods, targets and run settings."""
    cards = [
        _distribution_card(stats),
        _counter_card("Models", stats.models),
        _counter_card("Methods (explanations)", stats.methods),
        _counter_card("Targets explained", stats.targets),
        _settings_card(stats, run_info),
    ]
    if stats.error_count:
        cards.append(_errors_card(stats))
    return f'<section class="cards" aria-label="summary">{"".join(cards)}</section>'


def csp_hash(css: str) -> str:
    """CSP source expression allowing exactly this stylesheet."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii") + "'"


def head(css: str, title: str) -> str:
    """Doctype, CSP and the stylesheet."""
    csp = (
        f"default-src 'none'; style-src {csp_hash(css)}; script-src 'none'; img-src 'none'; "
        "font-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{escape(csp)}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="saliency-cli">\n'
        f"<title>{escape(title)}</title>\n<style>{css}</style>\n</head>\n"
    )


def _filters(stats: ReportStats) -> str:
    """The label-filter radios and the sticky bar of their labels."""
    radios = '<input type="radio" name="flt" id="fall" class="flt" checked aria-label="all labels">' + "".join(
        f'<input type="radio" name="flt" id="f{idx}" class="flt" aria-label="{escape(label)}">'
        for label, idx in stats.label_ids.items()
    )
    chips = f'<label for="fall">All<b>{stats.reviews:,}</b></label>' + "".join(
        f'<label for="f{stats.label_ids[label]}">{escape(label)}<b>{n:,}</b></label>' for label, n in _in_label_order(stats)
    )
    return (
        f'{radios}\n<nav class="filters" aria-label="filter by predicted label"><div class="wrap">'
        f'<span class="lbl">Predicted label:</span>{chips}</div></nav>\n'
    )


def top(stats: ReportStats, run_info: Mapping[str, Any] | None, level: str) -> str:
    """Everything before the reviews: header, summary, legend and label filters."""
    models = ", ".join(stats.models) if len(stats.models) <= 3 else f"{len(stats.models)} models"
    sub = (
        f"{stats.reviews:,} review{'s' if stats.reviews != 1 else ''} \u00b7 {stats.explanations:,} "
        f"explanation{'s' if stats.explanations != 1 else ''} \u00b7 {escape(models) or 'no model'} \u00b7 {level} level"
    )
    return (
        f'<body>\n<header class="hd"><div class="wrap"><h1>Saliency report</h1><p class="sub">{sub}</p>'
        f"{_summary(stats, run_info)}{_legend(stats)}</div></header>\n"
        f'{_filters(stats)}<main class="wrap">\n'
    )


def tail(stats: ReportStats) -> str:
    """Everything after the reviews."""
    empty = '<p class="empty">No explanations.</p>' if stats.reviews == 0 else ""
    return (
        f"{empty}</main>\n<footer class=\"wrap\">Generated by saliency-cli \u00b7 JSONL schema {SCHEMA_VERSION}"
        "</footer>\n</body>\n</html>\n"
    )

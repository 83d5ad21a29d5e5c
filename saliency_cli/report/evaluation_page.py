"""The evaluation summary as a standalone HTML page: tables, and the deletion curves as inline SVG.

No JavaScript and the report's Content-Security-Policy (only this page's stylesheet, by hash). Every
value from the run (method names, model, file names) is escaped; charts use SVG presentation
attributes, which the policy does not block, rather than inline styles, which it does.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from saliency_cli.report.evaluation_tables import interval, shown_columns
from saliency_cli.report.page import base_css, head
from saliency_cli.report.render import escape

# Okabe-Ito colours (distinguishable with colour-blindness); the random control is drawn grey and dashed.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
CONTROL_COLOR = "#8a93a5"
EXTRA_CSS = """
.ev table{border-collapse:collapse;background:#fff;margin:8px 0 18px;font-size:13.5px}
.ev th,.ev td{border:1px solid #dde1e7;padding:4px 9px;text-align:right;font-variant-numeric:tabular-nums}
.ev th:first-child,.ev td:first-child,.ev .m{text-align:left}
.ev h2{font-size:17px;margin:22px 0 4px}
.ev .warn{background:#fff8e1;border:1px solid #f0d98a;border-radius:6px;padding:8px 12px;max-width:900px}
.ev .charts{display:flex;flex-wrap:wrap;gap:18px}
.ev figure{margin:0;background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:8px}
.ev figcaption{font-size:13px;color:#5b6475;max-width:520px}
.ev ul.keys{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px}
.ev dl{display:grid;grid-template-columns:auto 1fr;gap:2px 14px;font-size:13.5px;max-width:900px}
.ev dt{color:#6b7385}.ev dd{margin:0}
"""
WIDTH, HEIGHT = 520, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 40


def colors(methods: Sequence[str]) -> dict[str, str]:
    """A colour per method, the control in grey."""
    out, k = {}, 0
    for m in methods:
        if m == "random":
            out[m] = CONTROL_COLOR
        else:
            out[m] = PALETTE[k % len(PALETTE)]
            k += 1
    return out


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    step = (hi - lo) / (n - 1)
    return [lo + i * step for i in range(n)]


def chart(curves: Mapping[str, Sequence[float]], bins: Sequence[float], color: Mapping[str, str], label: str) -> str:
    """One SVG line chart: x = share of words removed or kept (the bins), y = mean drop of the explained output."""
    values = [v for c in curves.values() for v in c]
    lo, hi = min([0.0, *values]), max([0.0, *values])
    if hi - lo < 1e-12:
        hi = lo + 1.0
    pad = 0.05 * (hi - lo)
    lo, hi = lo - (pad if lo < 0 else 0.0), hi + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / max(1, len(bins) - 1))

    def y(v: float) -> float:
        return TOP + plot_h * (hi - v) / (hi - lo)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'role="img" aria-label="{escape(label)}">']
    for t in _ticks(lo, hi):
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#e3e6eb"/>'
                     f'<text x="{LEFT - 6}" y="{y(t) + 4:.1f}" text-anchor="end" font-size="11" fill="#5b6475">{t:.2f}</text>')
    if lo < 0 < hi:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#8a93a5"/>')
    for i, b in enumerate(bins):
        parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="11" '
                     f'fill="#5b6475">{100 * b:g}%</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="12" '
                 f'fill="#2e3546">top words (share of the review)</text>'
                 f'<text x="12" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" font-size="12" fill="#2e3546" '
                 f'transform="rotate(-90 12 {TOP + plot_h / 2:.1f})">F(review) - F(copy)</text>')
    for m, curve in curves.items():
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(curve))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color[m]}" stroke-width="2"{_dash(m)}/>')
        for i, v in enumerate(curve):
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{color[m]}">'
                         f'<title>{escape(m)}, {100 * bins[i]:g}%: {v:.4f}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _dash(method: str) -> str:
    return ' stroke-dasharray="5 4"' if method == "random" else ""


def _keys(methods: Sequence[str], color: Mapping[str, str]) -> str:
    items = "".join(
        f'<li><svg width="22" height="10" aria-hidden="true"><line x1="0" x2="22" y1="5" y2="5" stroke="{color[m]}" '
        f'stroke-width="3"{_dash(m)}/></svg> {escape(m)}</li>'
        for m in methods
    )
    return f'<ul class="keys">{items}</ul>'


def _metrics_table(summary: Mapping[str, Any]) -> str:
    methods = summary["methods"]
    shown = shown_columns(summary)
    head_row = "".join(f"<th>{escape(t)}</th>" for _, t in shown)
    rows = []
    for place, m in enumerate(summary["ranking"], 1):
        e = methods[m]
        rank = "-" if e["mean_rank"] is None else f"{e['mean_rank']:.2f}"
        cells = "".join(f"<td>{escape(interval(e[k]))}</td>" for k, _ in shown)
        rows.append(f"<tr><td>{place}</td><td class=\"m\">{escape(m)}</td>{cells}<td>{rank}</td></tr>")
    return (f"<table><thead><tr><th>#</th><th class='m'>method</th>{head_row}<th>mean rank ↓</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _wins_table(summary: Mapping[str, Any]) -> str:
    order = summary["ranking"]
    head_row = "".join(f"<th>{escape(m)}</th>" for m in order)
    rows = []
    for a in order:
        wins = summary["methods"][a]["wins"]
        cells = "".join(
            "<td></td>" if a == b else f"<td>{'-' if wins.get(b) is None else f'{100 * wins[b]:.0f}%'}</td>" for b in order
        )
        rows.append(f'<tr><td class="m">{escape(a)}</td>{cells}</tr>')
    return f"<table><thead><tr><th>row beats column</th>{head_row}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _plausibility_note(summary: Mapping[str, Any]) -> str:
    """What the plausibility columns mean, when the run had rationales."""
    if not shown_columns(summary, ("token_f1", "iou", "auprc")):
        return ""
    return ("<p>Token F1, IOU and AUPRC are plausibility: how well the method's top k words (k = the words the "
            "rationale marks) and its scores agree with the words people marked as the reason. They cost no model "
            "run; an explanation can be plausible without being faithful, and the other way round.</p>")


def render_page(summary: Mapping[str, Any], run_info: Mapping[str, Any]) -> str:
    """The whole page for one evaluation summary."""
    css = base_css() + EXTRA_CSS
    order = summary["ranking"]
    color = colors(order)
    bins = summary.get("bins") or []
    charts = []
    for key, title, caption in (
        ("comprehensiveness", "Comprehensiveness curve",
         "Mean drop of the explained output when the method's top words are replaced (higher is better)."),
        ("sufficiency", "Sufficiency curve",
         "Mean drop when only the method's top words are kept (lower is better)."),
    ):
        curves = {m: summary["methods"][m]["curve"][key] for m in order if summary["methods"][m]["curve"]}
        if curves and bins:
            charts.append(f"<figure>{chart(curves, bins, color, title)}<figcaption><b>{escape(title)}.</b> "
                          f"{escape(caption)}</figcaption></figure>")
    info = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in run_info.items())
    body = (
        '<header class="hd"><div class="wrap"><h1>Which saliency method to trust</h1>'
        f'<p class="sub">Faithfulness (ERASER) of {escape(len(order))} methods on {summary["rows"]:,} reviews '
        f'({summary["units"]:,} review x target pairs)</p></div></header>'
        '<main class="wrap ev">'
        f'<p class="warn">{escape(summary["caveat"])}</p>'
        "<h2>Methods, best mean rank first</h2>"
        f"<p>Mean over (review, target) pairs, with a 95% bootstrap interval ({summary['bootstrap']['resamples']} "
        f"resamples). Rank and wins use {escape(summary['score'])}.</p>"
        f"{_metrics_table(summary)}{_plausibility_note(summary)}"
        "<h2>Head to head</h2>"
        f"{_wins_table(summary)}"
        "<h2>Deletion curves</h2>"
        f"{_keys(order, color)}<div class=\"charts\">{''.join(charts)}</div>"
        f"<h2>Run</h2><dl>{info}</dl>"
        "</main></body></html>\n"
    )
    return head(css, "saliency-cli evaluation") + "<body>" + body

"""The corpus summary as one self-contained HTML page: per group (method, target label) a diverging
bar chart of the words that most support and oppose the label, each word leading to snippets of the
reviews where it weighed most; then the confusion matrix, each mistake leading to its driving words
and example reviews.

No JavaScript; the report's Content-Security-Policy (only this page's stylesheet, by hash); colours
are the report's classes (no inline style); every text from the results is escaped.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from saliency_cli.report import colors
from saliency_cli.report.corpus_chart import diverging_chart
from saliency_cli.report.corpus_tables import is_signed, sides
from saliency_cli.report.page import base_css, head
from saliency_cli.report.render import color_class, escape, exact_score

EXTRA_CSS = """
.cs h2{font-size:18px;margin:26px 0 6px}
.cs .grp{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:10px 18px;margin:14px 0}
.cs .grp h2{margin-top:4px}
.cs figure{margin:4px 0 10px;overflow-x:auto}
.cs .kw{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:4px 22px}
.cs .kw section{border-top:1px solid #eef0f3;padding:6px 0}
.cs h3{font-size:14px;margin:0 0 2px}
.cs .st{font-size:12px;color:#6b7385}
.cs ul.sn{list-style:none;margin:2px 0 0;padding:0;font-size:13.5px}
.cs ul.sn li{margin:3px 0;line-height:1.7;overflow-wrap:anywhere}
.cs mark,.cs .eg span{border-radius:3px;padding:1px 0}
.cs .id{font-size:12px;color:#6b7385;margin-right:6px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.cs table{border-collapse:collapse;background:#fff;margin:6px 0 14px;font-size:13.5px}
.cs th,.cs td{border:1px solid #dde1e7;padding:4px 10px;text-align:right;font-variant-numeric:tabular-nums}
.cs th:first-child,.cs td.w{text-align:left}
.cs td.d{font-weight:650;background:#eef0f3}
.cs .cell{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:8px 16px;margin:10px 0}
.cs .eg{margin:4px 0 8px;line-height:1.8;overflow-wrap:anywhere}
.cs :target{outline:2px solid #4393c3;outline-offset:3px}
.hd .toc{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13.5px}
.hd .toc a{color:#1d4f91}
.cs dl{display:grid;grid-template-columns:auto 1fr;gap:2px 14px;font-size:13.5px;max-width:900px}
.cs dt{color:#6b7385}.cs dd{margin:0}
"""


ELLIPSIS, ARROW, DOT = "\u2026", "\u2192", "\u00b7"


def _word_id(gi: int, wi: int) -> str:
    return f"g{gi}-w{wi}"


def _snippet(s: Mapping[str, Any], signed: bool) -> str:
    """One keyword-in-context line: the review id, then the stretch with the word in its review's colour."""
    text, a, b = s["text"], s["start"], s["end"]
    cls = color_class(s["score"], s["scale"] if s["scale"] > 0 else 1.0, signed)
    left, right = ELLIPSIS if s["cut_left"] else "", ELLIPSIS if s["cut_right"] else ""
    return (f'<li><span class="id">{escape(s["id"])}</span>{left}{escape(text[:a])}'
            f'<mark class="{cls}" title="{escape(exact_score(s["score"]))}">{escape(text[a:b])}</mark>'
            f'{escape(text[b:])}{right}</li>')


def _word_section(gi: int, wi: int, word: Mapping[str, Any], k: int, signed: bool) -> str:
    """A word's numbers and its snippets (its anchor is what the chart links to)."""
    ci = word["ci"]
    interval = f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "-"
    stats = (f"mean {word['mean']:+.4f}, 95% CI {interval}; in {word['reviews']:,} reviews; top-{k} in "
             f"{100 * word['top_share']:.0f}%, bottom-{k} in {100 * word['bottom_share']:.0f}%")
    items = "".join(_snippet(s, signed) for s in word.get("snippets") or ())
    return (f'<section id="{_word_id(gi, wi)}"><h3>{escape(word["word"])}</h3><div class="st">{escape(stats)}</div>'
            f'<ul class="sn">{items}</ul></section>')


def _group(summary: Mapping[str, Any], gi: int, group: Mapping[str, Any], top: int) -> str:
    """One group: the chart, then every charted word's section."""
    support, oppose = sides(summary, group, top)
    shown = [*support, *oppose]
    index = {id(w): wi for wi, w in enumerate(shown)}
    signed = is_signed(summary, group)
    title = f"{group['method']} {ARROW} {group['target']}"
    chart = diverging_chart(support, oppose, signed, lambda w: f"#{_word_id(gi, index[id(w)])}",
                            f"words that most support and oppose {group['target']} ({group['method']})")
    sections = "".join(_word_section(gi, wi, w, summary["top_k"], signed) for wi, w in enumerate(shown))
    note = (f"{group['reviews']:,} reviews explained for this label; {len(group['words']):,} words in at least "
            f"{summary['min_count']} of them. Click a word for the reviews where it weighed most.")
    empty = "" if shown else f"<p>No word is in {summary['min_count']} or more of these reviews.</p>"
    return (f'<section class="grp" id="g{gi}"><h2>{escape(title)}</h2><p class="st">{escape(note)}</p>'
            f'{empty}<figure>{chart if shown else ""}</figure><div class="kw">{sections}</div></section>')


def _matrix(confusion: Mapping[str, Any], cell_ids: Mapping[tuple[str, str], str]) -> str:
    """The confusion matrix; an off-diagonal count links to its cell's section."""
    head_row = "".join(f"<th>{escape(p)}</th>" for p in confusion["predicted"])
    rows = []
    for g, counts in zip(confusion["gold"], confusion["counts"]):
        cells = []
        for p, n in zip(confusion["predicted"], counts):
            anchor = cell_ids.get((g, p))
            text = f'<a href="#{anchor}">{n:,}</a>' if anchor and n else (f"{n:,}" if n else "")
            cells.append(f'<td class="d">{text}</td>' if g == p else f"<td>{text}</td>")
        rows.append(f'<tr><td class="w">{escape(g)}</td>{"".join(cells)}</tr>')
    return (f'<table><thead><tr><th>gold \\ predicted</th>{head_row}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _example(x: Mapping[str, Any], signed: bool) -> str:
    """An example review with every word in its colour."""
    text, parts, cursor = x["text"], [], 0
    scale = x["scale"] if x["scale"] > 0 else 1.0
    for start, end, score in x["words"]:
        if start < cursor or end > len(text):
            continue
        parts.append(escape(text[cursor:start]))
        parts.append(f'<span class="{color_class(score, scale, signed)}" title="{escape(exact_score(score))}">'
                     f"{escape(text[start:end])}</span>")
        cursor = end
    parts.append(escape(text[cursor:]) + (ELLIPSIS if x["cut"] else ""))
    p = x["probability"]
    return f'<div class="eg"><span class="id">{escape(x["id"])} {DOT} p={p:.2f}</span>{"".join(parts)}</div>'


def _cell(summary: Mapping[str, Any], anchor: str, cell: Mapping[str, Any]) -> str:
    """One mistake: per method, the words that drove the predicted label and the most confident examples."""
    blocks = []
    for method, found in cell["methods"].items():
        signed = colors.is_signed(method, summary.get("normalization") or "none",
                                  [w["total"] for w in found["words"]])
        rows = "".join(f'<tr><td class="w">{escape(w["word"])}</td><td>{w["total"]:+.3f}</td>'
                       f'<td>{w["mean"]:+.3f}</td><td>{w["reviews"]:,}</td></tr>' for w in found["words"])
        table = (f"<table><thead><tr><th>word</th><th>total</th><th>mean</th><th>reviews</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>")
        examples = "".join(_example(x, signed) for x in found["examples"])
        blocks.append(f"<h3>{escape(method)}</h3>{table}{examples}")
    body = "".join(blocks) or "<p>The predicted label was not explained for these reviews.</p>"
    title = f"gold {cell['gold']}, predicted {cell['predicted']}: {cell['reviews']:,} reviews"
    return f'<section class="cell" id="{anchor}"><h3>{escape(title)}</h3>{body}</section>'


def _confusion(summary: Mapping[str, Any], confusion: Mapping[str, Any]) -> str:
    ids = {(c["gold"], c["predicted"]): f"c{i}" for i, c in enumerate(confusion["cells"])}
    unlabelled = confusion.get("unlabelled") or 0
    note = ("Reviews by your label (rows) and the model's prediction (columns); click a count off the diagonal "
            "for the words that drove those predictions (total score over the cell's reviews, for the predicted "
            "label) and the most confident of them." + (f" {unlabelled:,} reviews have no label." if unlabelled else ""))
    cells = "".join(_cell(summary, ids[(c["gold"], c["predicted"])], c) for c in confusion["cells"])
    return f'<h2 id="confusion">Your labels against the predictions</h2><p class="st">{escape(note)}</p>' \
           f"{_matrix(confusion, ids)}{cells}"


def render_corpus_page(summary: Mapping[str, Any], top: int, run_info: Sequence[tuple[str, Any]] = ()) -> str:
    """The whole page of one corpus summary (made with snippets: ``CorpusTally.summary(with_snippets=True)``)."""
    css = base_css() + EXTRA_CSS
    groups = summary["groups"]
    toc = "".join(f'<a href="#g{i}">{escape(g["method"])} {ARROW} {escape(g["target"])}</a>' for i, g in enumerate(groups))
    confusion = summary.get("confusion")
    if confusion is not None:
        toc += '<a href="#confusion">your labels vs predictions</a>'
    info = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in run_info)
    body = (
        '<header class="hd"><div class="wrap"><h1>What drives the model across the file</h1>'
        f'<p class="sub">{summary["reviews"]:,} reviews {DOT} {summary["records"]:,} explanations {DOT} '
        f'{escape(summary.get("model") or "model not recorded (CSV)")}</p><nav class="toc">{toc}</nav></div></header>'
        '<main class="wrap cs">'
        f'<p class="st">Each bar is a word\'s mean score per review (its occurrences in a review summed): '
        f"right, it supports the label; left, it opposes it. The whisker is the {escape(summary['interval'])}. "
        f"Words are case-folded; only words in at least {summary['min_count']} reviews are listed. In the "
        "snippets the word has its colour in that review (orange supports, blue opposes; the strongest word of "
        "the review is the deepest colour).</p>"
        + "".join(_group(summary, i, g, top) for i, g in enumerate(groups))
        + (_confusion(summary, confusion) if confusion is not None else "")
        + f"<h2>Run</h2><dl>{info}</dl></main>"
        '<footer class="wrap">Generated by saliency-cli</footer></body></html>\n'
    )
    return head(css, "saliency-cli summary") + "<body>" + body

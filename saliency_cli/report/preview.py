"""Terminal preview of explanations, with rich.

Review text is never parsed as rich markup (it only ever goes into :class:`rich.text.Text`),
and terminal control characters in it are shown as visible symbols, so a review cannot
restyle or drive the terminal.
"""

from __future__ import annotations

import itertools
import math
from typing import Sequence

from rich import box
from rich.color import Color
from rich.console import Console
from rich.style import Style
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from saliency_cli.report import colors
from saliency_cli.records import Explanation
from saliency_cli.outputs.formats import LEVELS as LEVELS  # re-exported
from saliency_cli.outputs.formats import check_level
from saliency_cli.report.spans import spans

RULE_WIDTH = 120  # the rule above each review, at most (a log file's console is much wider)
MIN_INTENSITY = 0.1  # below this share of the scale a word keeps the terminal's own background

# C0 controls (but tab and newline), DEL and C1 controls -> one visible character each, so offsets stay valid.
_VISIBLE_CONTROLS = {c: chr(0x2400 + c) for c in range(0x20) if c not in (9, 10)}
_VISIBLE_CONTROLS[0x7F] = "\u2421"
_VISIBLE_CONTROLS.update({c: "\ufffd" for c in range(0x80, 0xA0)})


def safe_text(text: str) -> str:
    """``text`` with terminal control characters replaced one-for-one by visible symbols."""
    return text.translate(_VISIBLE_CONTROLS)


def score_style(score: float, scale: float, signed: bool) -> Style:
    """Rich style with the background colour of ``score`` and a readable foreground."""
    rgb = colors.score_color(score, scale, signed)
    return Style(bgcolor=Color.from_rgb(*rgb), color=Color.from_rgb(*colors.text_color_for(rgb)))


def highlighted_text(exp: Explanation, level: str = "word") -> Text:
    """The review text with each word/token on its score's background colour (near-zero ones left plain)."""
    items = spans(exp, level)
    scores = [it.score for it in items]
    scale = colors.color_scale(scores)
    signed = colors.is_signed(exp.method, exp.normalization, scores)
    text = safe_text(exp.text)
    out = Text()
    cursor = 0
    for start, end, score, _ in items:
        start, end = max(start, cursor, 0), min(end, len(text))
        if end <= start:
            continue
        out.append(text[cursor:start])
        faint = colors.intensity(score, scale) < MIN_INTENSITY
        out.append(text[start:end], "" if faint else score_style(score, scale, signed))
        cursor = end
    if cursor < len(text):
        out.append(text[cursor:], "dim strike" if exp.truncated else "")
    return out


def top_items(exp: Explanation, k: int = 5, level: str = "word") -> list[tuple[str, float]]:
    """The ``k`` words/tokens with the largest ``|score|`` (earlier first on ties)."""
    items = [it for it in spans(exp, level) if math.isfinite(it.score)]
    ranked = sorted(enumerate(items), key=lambda p: (-abs(p[1].score), p[0]))
    return [(safe_text(item.label), item.score) for _, item in ranked[:k]]


def _top_table(exp: Explanation, k: int, level: str) -> Table:
    """Rank, word and score of the top-k items."""
    items = spans(exp, level)
    scores = [it.score for it in items]
    scale = colors.color_scale(scores)
    signed = colors.is_signed(exp.method, exp.normalization, scores)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold dim", padding=(0, 1))
    table.add_column("#", justify="right", style="dim")
    table.add_column(level)
    table.add_column("score", justify="right")
    for rank, (label, score) in enumerate(top_items(exp, k, level), start=1):
        table.add_row(str(rank), Text(label, score_style(score, scale, signed)), Text(f"{score:+.4g}"))
    return table


def _header(exp: Explanation) -> Text:
    """Method, target, params and completeness delta of one explanation."""
    line = Text.assemble(
        (safe_text(exp.method), "bold cyan"), ("  target ", "dim"), (safe_text(exp.target.label), "bold")
    )
    if exp.params:
        line.append("  " + safe_text(" ".join(f"{k}={v}" for k, v in exp.params.items())), "dim")
    if exp.delta is not None:
        line.append(f"  \u0394 {float(exp.delta):+.3g}", "dim")
    if exp.normalization != "none":
        line.append(f"  norm {safe_text(exp.normalization)}", "dim")
    return line


def _prediction(exp: Explanation) -> Text:
    """Predicted label with its probability, then the other labels."""
    pred = exp.prediction
    line = Text.assemble(("predicted ", "dim"), (safe_text(pred.label), "bold"))
    p = pred.probs.get(pred.label)
    if p is not None:
        line.append(f" {float(p):.1%}", "bold")
    others = [(lbl, float(v)) for lbl, v in pred.probs.items() if lbl != pred.label]  # label order
    if others:
        line.append("   " + "  ".join(f"{safe_text(lbl)} {v:.1%}" for lbl, v in others[:5]), "dim")
    if exp.truncated:
        line.append(f"   truncated ({exp.dropped_tokens} tokens dropped)", "yellow")
    return line


def _legend(signed: bool, unsigned: bool) -> Text:
    """A one-line colour key."""
    line = Text("  ")
    if signed:
        line.append(" opposes ", score_style(-1.0, 1.0, True))
        line.append(" \u2190 0 \u2192 ", score_style(0.0, 1.0, True))
        line.append(" supports ", score_style(1.0, 1.0, True))
        line.append("  ")
    if unsigned:
        line.append(" 0 ", score_style(0.0, 1.0, False))
        line.append(" important ", score_style(1.0, 1.0, False))
    return line


def render_preview(console: Console, explanations: Sequence[Explanation], top_k: int = 5, level: str = "word") -> None:
    """Print each review (consecutive explanations sharing an id): coloured text, prediction and top-k tables."""
    check_level(level, "level")
    for review_id, group_iter in itertools.groupby(explanations, key=lambda e: e.id):
        group = list(group_iter)
        first = group[0]
        title = Text.assemble(("review ", "dim"), (safe_text(review_id), "bold"))
        console.print(Rule(title, align="left"), width=min(console.width, RULE_WIDTH))
        console.print(_prediction(first))
        kinds = [colors.is_signed(e.method, e.normalization, [it.score for it in spans(e, level)]) for e in group]
        console.print(_legend(any(kinds), not all(kinds)))
        for exp in group:
            console.print()
            console.print(_header(exp))
            console.print(highlighted_text(exp, level))
            if top_k > 0:
                console.print(_top_table(exp, top_k, level))
        console.print()

"""The corpus summary as rich tables for the terminal (stderr): per group the words that most support
and most oppose its label, then the confusion matrix and what drove its mistakes."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from rich.markup import escape
from rich.table import Table

from saliency_cli.report import colors


def is_signed(summary: Mapping[str, Any], group: Mapping[str, Any]) -> bool:
    """Whether a group reads as supports / opposes (else: one unsigned importance ranking)."""
    return colors.is_signed(group["method"], summary.get("normalization") or "none", [-1.0] if group["signed"] else [])


def sides(summary: Mapping[str, Any], group: Mapping[str, Any], top: int) -> tuple[list[dict], list[dict]]:
    """The ``top`` supporting words (highest mean above zero) and the ``top`` opposing ones (lowest
    mean below zero, most opposing first); an unsigned group's most important words, and none opposing."""
    words = group["words"]
    if not is_signed(summary, group):
        return words[:top], []
    support = [w for w in words if w["mean"] > 0][:top]
    oppose = [w for w in reversed(words) if w["mean"] < 0][:top]
    return support, oppose


def half_width(word: Mapping[str, Any]) -> str:
    """``±0.012``: half the width of the word's 95 % interval (``-`` when it has none)."""
    if word["ci"] is None:
        return "-"
    lo, hi = word["ci"]
    return f"±{(hi - lo) / 2:.3f}"


def _cells(word: Mapping[str, Any], share: str) -> list[str]:
    return [escape(word["word"]), f"{word['mean']:+.3f}", half_width(word), f"{word['reviews']:,}",
            f"{100 * word[share]:.0f}%"]


def group_table(summary: Mapping[str, Any], group: Mapping[str, Any], top: int) -> Table:
    """One group: its supporting words, then its opposing ones, each with its mean, the half-width of
    its 95 % interval, its reviews, and how often it is among a review's top (bottom) k words."""
    support, oppose = sides(summary, group, top)
    k = summary["top_k"]
    title = (f"{escape(group['method'])} -> {escape(group['target'])}: {group['reviews']:,} reviews, "
             f"{len(group['words']):,} words in {summary['min_count']}+ reviews")
    table = Table(title=title, title_justify="left")
    for name in ("", "word", "mean", "95% CI", "reviews", f"in top/bottom {k}"):
        table.add_column(name, justify="left" if name in ("", "word") else "right", no_wrap=name == "word")
    first = "supports" if is_signed(summary, group) else "most important"
    for i, word in enumerate(support):
        table.add_row(first if i == 0 else "", *_cells(word, "top_share"), end_section=i == len(support) - 1)
    for i, word in enumerate(oppose):
        table.add_row("opposes" if i == 0 else "", *_cells(word, "bottom_share"))
    if not support and not oppose:
        table.add_row("", f"(no word in {summary['min_count']}+ reviews)", "", "", "", "")
    return table


def confusion_table(confusion: Mapping[str, Any]) -> Table:
    """Reviews by gold label (rows) and predicted label (columns)."""
    table = Table(title="gold label (rows) x predicted label (columns), reviews", title_justify="left")
    table.add_column("gold \\ predicted", no_wrap=True)
    for p in confusion["predicted"]:
        table.add_column(escape(p), justify="right")
    for g, counts in zip(confusion["gold"], confusion["counts"]):
        table.add_row(escape(g), *(f"[bold]{n}[/]" if g == p and n else str(n or "") for p, n in zip(confusion["predicted"], counts)))
    return table


def _short(method: str) -> str:
    """A method's first alias (``ig``) for the narrow mistakes table; its name when it has none or is unknown."""
    from saliency_cli.report.evaluation_tables import short_name

    try:
        return short_name(method)
    except ValueError:
        return method


def mistakes_table(confusion: Mapping[str, Any], cells: int = 8, words: int = 5) -> Table:
    """The largest off-diagonal cells and, per method, the words that most drove those predictions."""
    table = Table(title="largest mistakes: what drove the predicted label (total score over the cell's reviews)",
                  title_justify="left")
    for name in ("gold", "predicted", "reviews", "method", "driving words"):
        table.add_column(name, justify="right" if name == "reviews" else "left")
    for cell in confusion["cells"][:cells]:
        first = True
        for method, found in cell["methods"].items():
            shown = ", ".join(f"{escape(w['word'])} {w['total']:+.2f}" for w in found["words"][:words]) or "-"
            head = (escape(cell["gold"]), escape(cell["predicted"]), f"{cell['reviews']:,}")
            table.add_row(*(head if first else ("", "", "")), escape(_short(method)), shown)
            first = False
        if first:
            table.add_row(escape(cell["gold"]), escape(cell["predicted"]), f"{cell['reviews']:,}", "-",
                          "(the predicted label was not explained)")
    return table


def tables(summary: Mapping[str, Any], top: int) -> Sequence[Table]:
    """Every table of the summary, in the order they are printed."""
    out = [group_table(summary, g, top) for g in summary["groups"]]
    confusion = summary.get("confusion")
    if confusion is not None:
        out.append(confusion_table(confusion))
        if confusion["cells"]:
            out.append(mistakes_table(confusion))
    return out

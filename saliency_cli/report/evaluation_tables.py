"""The evaluation summary as rich tables for the terminal (stderr): methods by mean rank, then wins."""

from __future__ import annotations

from typing import Any, Mapping

from rich.table import Table

TERMINAL = ("comprehensiveness", "sufficiency", "taucorr_loo")  # the normalised pair: JSON and HTML only
COLUMNS = (
    ("comprehensiveness", "compr. ↑"),
    ("sufficiency", "suff. ↓"),
    ("normalized_comprehensiveness", "norm. compr. ↑"),
    ("normalized_sufficiency", "norm. suff. ↑"),
    ("taucorr_loo", "tau vs loo ↑"),
    ("token_f1", "token F1 ↑"),
    ("iou", "IOU ↑"),
    ("auprc", "AUPRC ↑"),
)
PLAUSIBLE = ("token_f1", "iou", "auprc")  # against the rationales: a table of their own on the terminal


def interval(stat: Mapping[str, Any], sep: str = " ") -> str:
    """``0.312 [0.280, 0.341]`` (``sep`` between mean and interval) or ``-`` when the metric has no value."""
    if stat["mean"] is None:
        return "-"
    lo, hi = stat["ci95"]
    bounds = f"{sep}[{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
    return f"{stat['mean']:.3f}{bounds}"


def shown_columns(summary: Mapping[str, Any], keys: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """The metric columns (key, title) with a value for some method, among ``keys`` (default: all)."""
    methods = summary["methods"]
    return [(k, title) for k, title in COLUMNS if (keys is None or k in keys)
            and any(methods[m][k]["mean"] is not None for m in methods)]


def short_name(method: str) -> str:
    """A method's first alias (``ig``), for narrow table headers."""
    from saliency_cli.methods import get_method

    m = get_method(method)
    return m.aliases[0] if m.aliases else m.name


def metrics_table(summary: Mapping[str, Any]) -> Table:
    """One row per method, best mean rank first: the mean and 95 % interval of comprehensiveness,
    sufficiency and (with occlusion) tau, and the mean rank."""
    methods = summary["methods"]
    shown = shown_columns(summary, TERMINAL)
    table = Table(title=f"faithfulness on {summary['rows']:,} reviews (mean [95% bootstrap interval])")
    table.add_column("#", justify="right")
    table.add_column("method", no_wrap=True)
    for _, title in shown:
        table.add_column(title, justify="right")
    table.add_column("rank ↓", justify="right")
    for place, m in enumerate(summary["ranking"], 1):
        entry = methods[m]
        rank = "-" if entry["mean_rank"] is None else f"{entry['mean_rank']:.2f}"
        table.add_row(str(place), m, *(interval(entry[k], "\n") for k, _ in shown), rank)
    return table


def wins_table(summary: Mapping[str, Any]) -> Table:
    """How often the row method's score beats the column method's, per (review, target)."""
    order = summary["ranking"]
    table = Table(title="row beats column, per review (compr. - suff.)")
    table.add_column("method", no_wrap=True)
    for m in order:
        table.add_column(short_name(m), justify="right")
    for a in order:
        wins = summary["methods"][a]["wins"]
        table.add_row(a, *("" if a == b else ("-" if wins.get(b) is None else f"{100 * wins[b]:.0f}%") for b in order))
    return table


def plausibility_table(summary: Mapping[str, Any]) -> Table | None:
    """Per method, best mean rank first: how well its top words agree with the human rationales (token
    F1 and IOU of its top-k words, AUPRC of its scores); None when no row had a rationale."""
    shown = shown_columns(summary, PLAUSIBLE)
    if not shown:
        return None
    methods = summary["methods"]
    n = max(methods[m][k]["n"] for m in methods for k, _ in shown)
    table = Table(title=f"plausibility against your rationales on {n:,} review x target pairs "
                        "(mean [95% bootstrap interval])")
    table.add_column("method", no_wrap=True)
    for _, title in shown:
        table.add_column(title, justify="right")
    for m in summary["ranking"]:
        table.add_row(m, *(interval(methods[m][k], "\n") for k, _ in shown))
    return table

"""Terminal preview (rich) and the progress display."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from saliency_cli.report import colors
from saliency_cli.report.preview import render_preview, top_items
from tests.factories import make_explanation

TEXT = "The movie was sharp and funny, truly great."
SCORES = [0.05, 0.1, 0.0, 0.9, -0.02, 0.3, 0.01, -0.4, 0.2, 0.0]


def console() -> Console:
    return Console(record=True, width=100, force_terminal=True, color_system="truecolor", file=io.StringIO())


def flat(text: str) -> str:
    return " ".join(text.split())


def table_words(text: str) -> list[list[str]]:
    """The word column of each top-k table, in printed order."""
    tables, current = [], None
    for line in text.splitlines():
        cells = line.split()
        if cells[:2] == ["#", "word"] or cells[:2] == ["#", "token"]:
            current = []
            tables.append(current)
        elif current is not None and len(cells) == 3 and cells[0].isdigit():
            current.append(cells[1])
        elif current is not None and cells and not set(line.strip()) <= {"\u2500"}:
            current = None
    return tables


def test_preview_text_prediction_and_top_k_in_order():
    exps = [
        make_explanation("rev-7", TEXT, SCORES, delta=0.002),
        make_explanation("rev-7", TEXT, [0.0, 0.5, 0.1, 0.2, 0.0, 0.7, 0.0, 0.3, 0.9, 0.0], method="gradient"),
    ]
    con = console()
    render_preview(con, exps, top_k=3)
    out = con.export_text(clear=False)
    assert "rev-7" in out
    assert flat(out).count(TEXT) == 2
    assert "predicted positive 90.0%" in out and "negative 10.0%" in out
    assert "integrated_gradients" in out and "gradient" in out and "\u0394 +0.002" in out
    assert table_words(out) == [["sharp", "truly", "funny"], ["great", "funny", "movie"]]
    assert out.index("sharp   ") < out.index("+0.9") < out.index("-0.4") < out.index("+0.3")


def test_preview_uses_palette_colours_for_the_top_word():
    exp = make_explanation("r", TEXT, SCORES)
    con = console()
    render_preview(con, [exp], top_k=2)
    html = con.export_html(inline_styles=True)
    top_hex = colors.hex_color(0.9, 0.9, signed=True)
    neg_hex = colors.hex_color(-0.4, 0.9, signed=True)
    assert re.findall(rf'<span style="[^"]*background-color: {top_hex}[^"]*">sharp</span>', html)
    assert re.findall(rf'<span style="[^"]*background-color: {neg_hex}[^"]*">truly</span>', html)
    fg = colors.to_hex(colors.text_color_for(colors.score_color(0.9, 0.9)))
    assert re.findall(rf'<span style="color: {fg};[^"]*background-color: {top_hex}[^"]*">sharp</span>', html)


def test_preview_unsigned_method_uses_sequential_palette():
    exp = make_explanation("r", TEXT, [abs(s) for s in SCORES], method="gradient")
    con = console()
    render_preview(con, [exp], top_k=1)
    assert colors.hex_color(0.9, 0.9, signed=False) in con.export_html(inline_styles=True)


def test_preview_token_level_and_groups():
    exps = [make_explanation("a", "Wonderful acting", [0.8, -0.4]), make_explanation("b", "Bad", [-0.5], label="negative")]
    con = console()
    render_preview(con, exps, top_k=5, level="token")
    out = con.export_text()
    assert "[CLS]" not in out and "[SEP]" not in out
    assert table_words(out) == [["won", "act", "##derful", "##ing"], ["bad"]]
    assert out.index("review a") < out.index("review b")
    assert top_items(exps[0], 2, level="token") == [("won", 0.6000000000000001), ("act", -0.30000000000000004)]


def test_preview_does_not_interpret_markup_or_control_codes():
    text = "[bold red]boom[/] \x1b[2J\x1b]0;pwned\x07 end"
    exp = make_explanation("r", text)
    con = console()
    render_preview(con, [exp])
    out = con.export_text()
    assert "[bold red]boom[/]" in out
    assert "\x1b" not in out and "\x07" not in out
    assert "\u241b[2J" in out


def test_preview_rejects_bad_level():
    with pytest.raises(ValueError, match="level"):
        render_preview(console(), [make_explanation("r", TEXT, SCORES)], level="char")



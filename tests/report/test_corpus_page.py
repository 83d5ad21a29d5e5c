"""The corpus summary page and tables: hostile text from the results is escaped everywhere, links lead to
sections that exist, the CSP allows exactly the page's stylesheet, and headless Chromium renders it."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from rich.console import Console

from saliency_cli.evaluation.corpus import CorpusOptions, CorpusTally
from saliency_cli.records import Explanation, Prediction, Target, WordScore
from saliency_cli.report.corpus_files import csv_rows
from saliency_cli.report.corpus_page import render_corpus_page
from saliency_cli.report.corpus_tables import tables
from saliency_cli.report.page import csp_hash
from saliency_cli.report.render import escape
from tests.report.test_html import XSS_IMG, XSS_SCRIPT, chromium_binary, parse, run_chromium

WORD = '"<b onmouseover=alert(1)>w&amp;'
LABEL = "</td><script>alert(2)</script>"
GOLD = "<img src=x onerror=alert(3)>"


def hostile(i: int, score: float) -> Explanation:
    """A review whose words, text, labels, id and model are all markup."""
    pieces = [XSS_SCRIPT, WORD, XSS_IMG, "[bold]rich[/]"]
    text = " ".join(pieces)
    starts = [sum(len(p) + 1 for p in pieces[:k]) for k in range(len(pieces))]
    words = tuple(WordScore(p, a, a + len(p), score * (k - 1.5)) for k, (p, a) in enumerate(zip(pieces, starts)))
    return Explanation(f"<i>{i}</i>", text, "<model>", "occlusion", {}, Prediction(LABEL, 0, {LABEL: 0.9, "x": 0.1}),
                       Target(LABEL, 0), (), words, row=i, label=GOLD, labelled=True)


@pytest.fixture(scope="module")
def page():
    tally = CorpusTally(CorpusOptions(min_count=2, snippets=2))
    for i in range(1, 7):
        tally.add_review([hostile(i, 0.1 * i)])
    summary = tally.summary(with_snippets=True)
    return summary, render_corpus_page(summary, 10, [("results", XSS_SCRIPT)])


def test_every_text_from_the_results_is_escaped(page):
    summary, html = page
    root = parse(html)
    tags = {n.tag for n in root.iter()}
    assert "script" not in tags and "img" not in tags and "b" not in tags
    text = root.text()
    for raw in (XSS_SCRIPT, XSS_IMG, WORD, LABEL, GOLD, "<i>3</i>", "<model>"):
        assert raw in text, raw
    assert not re.search(r"<(script|img|b |i>)", html.split("</style>", 1)[1])


def test_links_lead_to_sections_that_exist_and_the_csp_allows_the_stylesheet(page):
    _, html = page
    ids = set(re.findall(r'id="([^"]+)"', html))
    links = re.findall(r'href="#([^"]+)"', html)
    assert links and set(links) <= ids
    assert any(link.startswith("c") for link in links)  # the confusion matrix leads to its cells
    css = re.search(r"<style>(.*)</style>", html, re.S).group(1)
    assert escape(csp_hash(css)) in html and "style=" not in html and "<svg" in html


def test_tables_and_csv_keep_markup_as_text(page):
    summary, _ = page
    console = Console(record=True, width=200)
    group, *rest = tables(summary, 5)
    console.print(group)
    assert "[bold]rich[/]" in console.export_text()
    for table in rest:
        console.print(table)
    out = console.export_text()
    assert "[bold]rich[/]" in out and LABEL in out and GOLD in out
    assert {row[3] for row in csv_rows(summary)} >= {WORD, "[bold]rich[/]"}


def test_headless_chromium_renders_the_page(page, tmp_path):
    binary = chromium_binary()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install chromium) - browser check skipped")
    path = tmp_path / "summary.html"
    path.write_text(page[1], encoding="utf-8")
    result = run_chromium(binary, tmp_path, "--dump-dom", path.as_uri())
    assert "</html>" in result.stdout, result.stderr[-2000:]
    root = parse(result.stdout)
    assert "script" not in {n.tag for n in root.iter()} and XSS_SCRIPT in root.text()
    assert "Content Security Policy" not in result.stderr, result.stderr[-2000:]


def test_an_empty_group_and_a_page_without_labels(page):
    tally = CorpusTally(CorpusOptions(min_count=5))
    tally.add_review([replace(hostile(1, 0.5), labelled=False, label=None)])
    html = render_corpus_page(tally.summary(with_snippets=True), 10)
    assert "No word is in 5 or more" in html and "Your labels" not in html
    parse(html)

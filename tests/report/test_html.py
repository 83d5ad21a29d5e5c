"""The standalone HTML report: structure, escaping, self-containment, scale, and a real browser."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest

from saliency_cli.report import page as html_page
from saliency_cli.report.html import HtmlReport, render_report_from_results, write_html_report
from saliency_cli.outputs.paths import OutputError
from saliency_cli.records import RowError, TokenScore
from tests.factories import make_explanation

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"


class Node:
    """A parsed element."""

    def __init__(self, tag: str, attrs: dict[str, str | None], parent: "Node | None") -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list["Node | str"] = []

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list["Node"]:
        return [n for n in self.iter() if (tag is None or n.tag == tag) and (cls is None or cls in n.classes)]

    def text(self, skip: tuple[str, ...] = ()) -> str:
        out = []
        for child in self.children:
            if isinstance(child, str):
                out.append(child)
            elif child.tag not in skip:
                out.append(child.text(skip))
        return "".join(out)


class TreeBuilder(HTMLParser):
    """Minimal DOM from the stdlib parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, dict(attrs), self.cur))

    def handle_endtag(self, tag):
        node = self.cur
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None, f"stray </{tag}>"
        assert node is self.cur, f"</{tag}> closes <{self.cur.tag}> too"
        self.cur = node.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse(doc: str) -> Node:
    builder = TreeBuilder()
    builder.feed(doc)
    builder.close()
    assert builder.cur is builder.root, "unclosed elements"
    return builder.root


def render(explanations, **kwargs) -> str:
    buf = io.StringIO()
    write_html_report(explanations, buf, **kwargs)
    return buf.getvalue()


TEXT1 = "An absolute delight,  from start to finish.\nLoved it!"
TEXT2 = "Boring plot; wooden acting."
TEXT3 = "Fine."


def three_reviews():
    s1 = [0.1, 0.7, 0.9, -0.05, -0.2, 0.0, 0.01, 0.3, -0.6, 0.8, 0.4, 0.05]
    return [
        make_explanation("r1", TEXT1, s1, delta=0.0123),
        make_explanation("r1", TEXT1, [abs(s) for s in s1], method="gradient"),
        make_explanation("r2", TEXT2, [-0.9, -0.2, 0.0, -0.7, -0.4, 0.01], label="negative"),
        make_explanation("r3", TEXT3, [0.2, 0.0]),
    ]


def test_structure_one_heading_per_review_and_methods_as_rows():
    exps = three_reviews()
    buf = io.StringIO()
    assert write_html_report(exps, buf, run_info={"batch_size": 8}) == 3
    root = parse(buf.getvalue())
    reviews = root.find_all("details", "rv")
    assert [r.attrs["id"] for r in reviews] == ["r0", "r1", "r2"]
    assert len(root.find_all("h2")) == 3
    ids = [r.find_all("span", "rid")[0].text() for r in reviews]
    assert ids == ["r1", "r2", "r3"]
    rows = [r.find_all("div", "ex") for r in reviews]
    assert [len(x) for x in rows] == [2, 1, 1]
    assert [row.find_all("div", "mth")[0].text() for row in rows[0]] == ["integrated_gradients", "gradient"]
    # predicted label chip and label probability bars
    assert reviews[1].find_all("span", "chip")[0].text() == "negative"
    assert [p.find_all("span", "pn")[0].text() for p in reviews[0].find_all("div", "pr")] == ["positive", "negative"]
    # delta only where given
    assert "\u0394 +0.0123" in rows[0][0].text()
    assert "\u0394" not in rows[0][1].text()


def test_text_flow_keeps_original_gaps_and_exact_scores_in_titles():
    exps = three_reviews()
    root = parse(render(exps))
    rows = root.find_all("div", "ex")
    for exp, row in zip(exps, rows):
        para = row.find_all("p", "tx")[0]
        assert para.text(skip=("i",)) == exp.text
        spans = [s for s in para.find_all("span") if "title" in s.attrs]
        assert [s.text(skip=("i",)) for s in spans] == [w.word for w in exp.words]
        assert [float(s.attrs["title"]) for s in spans] == [w.score for w in exp.words]
        # accessible copy of the score inside each word
        assert all(s.find_all("i") and s.find_all("i")[0].text().strip(" ()") for s in spans)
    # signed rows use the diverging classes, the gradient row the sequential ones
    classes = lambda row: {c for s in row.find_all("span") if "title" in s.attrs for c in s.classes}
    assert classes(rows[0]) & {"p20", "n13"} == {"p20", "n13"}
    assert all(c.startswith("s") for c in classes(rows[1]))


def test_token_level_skips_special_tokens_and_shows_token_strings():
    exp = make_explanation("t", "Wonderful acting", [0.8, -0.4])
    root = parse(render([exp], level="token"))
    para = root.find_all("p", "tx")[0]
    assert para.text(skip=("i",)) == exp.text
    titles = [s.attrs["title"] for s in para.find_all("span") if "title" in s.attrs]
    assert [t.split()[0] for t in titles] == ["won", "##derful", "act", "##ing"]
    assert "[CLS]" not in para.text() and "[SEP]" not in para.text()


def test_summary_counts_filters_and_legend():
    exps = three_reviews()
    doc = render(exps, run_info={"batch_size": 8, "device": "cpu"})
    root = parse(doc)
    assert "3 reviews \u00b7 4 explanations" in root.find_all("p", "sub")[0].text()
    dist = root.find_all("div", "dist")[0]
    assert [p.text() for p in dist.find_all("div", "pr")] == ["positive2 \u00b7 66.7%", "negative1 \u00b7 33.3%"]
    chips = {lab.text(): lab.attrs["for"] for lab in root.find_all("nav")[0].find_all("label")}
    assert chips == {"All3": "fall", "positive2": "f0", "negative1": "f1"}
    radios = [n.attrs["id"] for n in root.find_all("input")]
    assert radios == ["fall", "f0", "f1"]
    assert "#f1:checked~main .rv:not(.L1){display:none}" in doc
    assert [r.attrs["class"] for r in root.find_all("details", "rv")] == ["rv L0", "rv L1", "rv L0"]
    settings = dict(zip((n.text() for n in root.find_all("dt")), (n.text() for n in root.find_all("dd"))))
    assert settings["batch_size"] == "8" and settings["device"] == "cpu" and settings["truncated reviews"] == "0"
    methods = [li.text() for card in root.find_all("div", "card") if card.find_all("h3")[0].text().startswith("Methods")
               for li in card.find_all("li")]
    assert methods == ["integrated_gradients3", "gradient1"]
    legend = root.find_all("section", "legend")
    assert legend and len(legend[0].find_all("span", "ramp")) == 2  # signed and unsigned in use


def test_only_first_reviews_are_open():
    exps = [make_explanation(f"id{i}", "Good film.") for i in range(5)]
    root = parse(render(exps, open_first=2))
    assert ["open" in d.attrs for d in root.find_all("details")] == [True, True, False, False, False]


def test_truncated_review_is_flagged_and_unseen_text_marked():
    exp = make_explanation("t", "Great film.", [0.5, 0.1, 0.0], truncated=True)
    exp = type(exp)(**{**exp.__dict__, "text": exp.text + " The rest was cut."})
    root = parse(render([exp]))
    assert "truncated: 7 tokens dropped" in root.find_all("span", "flag")[0].text()
    assert root.find_all("span", "cut")[0].text() == " The rest was cut."


def test_non_consecutive_ids_make_separate_reviews():
    exps = [make_explanation("a", "Good."), make_explanation("b", "Bad."), make_explanation("a", "Good.")]
    assert write_html_report(exps, io.StringIO()) == 3


def test_empty_input_is_a_valid_page():
    buf = io.StringIO()
    assert write_html_report([], buf) == 0
    root = parse(buf.getvalue())
    assert root.find_all("p", "empty")


def test_bad_level():
    with pytest.raises(ValueError, match="level"):
        write_html_report([], io.StringIO(), level="char")


def malicious_reviews():
    return [
        make_explanation(
            "x1<script>alert(1)</script>",
            f"Nice {XSS_SCRIPT} and {XSS_IMG} here \"quoted\" 'single' & amp",
            label="<marquee>pos</marquee>",
            probs={"<marquee>pos</marquee>": 0.8, '"><script>alert(2)</script>': 0.2},
            model=XSS_IMG,
            params={"steps": "</style><script>alert(3)</script>", "<x>": 1},
        ),
        make_explanation("x2", XSS_IMG, method="<svg onload=alert(4)>"),
    ]


def test_escaping_of_review_text_labels_model_tokens_params_and_run_info():
    exps = malicious_reviews()
    doc = render(exps, run_info={"note": XSS_SCRIPT, "<k>": XSS_IMG})
    doc_tokens = render(exps, level="token")
    for d in (doc, doc_tokens):
        assert "<script>alert" not in d
        assert "<img src=x" not in d
        assert "<svg" not in d
        assert "<marquee>" not in d
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in d or "&lt;script&gt;" in d
        assert "&lt;img src=x onerror=alert(1)&gt;" in d or "&lt;img" in d
        tags = {n.tag for n in parse(d).iter()}
        assert not tags & {"script", "img", "svg", "marquee", "x", "k", "iframe", "object"}
        assert not any(a.startswith("on") for n in parse(d).iter() for a in n.attrs)
    root = parse(doc)
    para = root.find_all("p", "tx")[0]
    assert para.text(skip=("i",)) == exps[0].text
    assert root.find_all("span", "chip")[0].text() == "<marquee>pos</marquee>"
    assert root.find_all("span", "rid")[0].text() == "x1<script>alert(1)</script>"
    assert root.find_all("div", "mth")[1].text() == "<svg onload=alert(4)>"
    assert "steps=</style><script>alert(3)</script>" in root.find_all("div", "prm")[0].text()
    settings = dict(zip((n.text() for n in root.find_all("dt")), (n.text() for n in root.find_all("dd"))))
    assert settings["note"] == XSS_SCRIPT and settings["<k>"] == XSS_IMG
    # escaped inside attributes as well
    assert 'aria-label="&lt;marquee&gt;pos&lt;/marquee&gt; 80.0%"' in doc


def test_escaping_of_tokenizer_strings():
    exp = make_explanation("t", "Hello world", [0.5, -0.5])
    evil = TokenScore('"><img src=x onerror=alert(1)>', 0, 5, 0.5, False)
    exp = dataclasses.replace(exp, tokens=(exp.tokens[0], evil, *exp.tokens[2:]))
    doc = render([exp], level="token")
    assert "<img" not in doc
    assert 'title="&quot;&gt;&lt;img src=x onerror=alert(1)&gt; +0.5"' in doc
    root = parse(doc)
    titles = [s.attrs["title"] for s in root.find_all("p", "tx")[0].find_all("span")]
    assert titles[0] == '"><img src=x onerror=alert(1)> +0.5'


def test_self_contained_and_strict_csp():
    doc = render(three_reviews() + malicious_reviews(), run_info={"model": "hf/some-model"})
    assert not re.search(r"https?://", doc)
    assert "@import" not in doc and "url(" not in doc
    assert "<link" not in doc and "<script" not in doc
    root = parse(doc)
    assert not [n for n in root.iter() if "src" in n.attrs or "srcset" in n.attrs]
    assert all(n.attrs["href"].startswith("#") for n in root.find_all("a"))
    csp = [m.attrs["content"] for m in root.find_all("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1
    assert "default-src 'none'" in csp[0] and "script-src 'none'" in csp[0] and "unsafe-inline" not in csp[0]
    style = root.find_all("style")
    assert len(style) == 1
    css = style[0].text()
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
    assert f"'sha256-{digest}'" in csp[0]
    assert "@media print" in css


def test_two_thousand_reviews(tmp_path):
    """Many reviews stream into one page: every one collapsed after the first 50, counts per label, a
    bounded size (2,000 prove what 10,000 would, in a fifth of the time)."""
    texts = [f"Review number {i % 97} was {'great' if i % 3 else 'dull'}, said viewer {i % 13}." for i in range(100)]

    def gen():
        for i in range(2_000):
            yield make_explanation(f"id{i}", texts[i % 100], label="positive" if i % 3 else "negative", row=i + 1)

    out = tmp_path / "big.html"
    assert write_html_report(gen(), out) == 2_000
    doc = out.read_text(encoding="utf-8")
    assert doc.rstrip().endswith("</html>")
    assert doc.count('<details class="rv') == 2_000
    assert doc.count("<details class=\"rv L") == 2_000
    opened = re.findall(r'<details class="rv [^"]*" id="r(\d+)" open>', doc)
    assert [int(i) for i in opened] == list(range(50))  # the first 50 open, the rest collapsed
    assert 'id="r1999"' in doc and 'id="r2000"' not in doc
    assert "2,000 reviews" in doc and "1,333" in doc and "667" in doc
    assert out.stat().st_size < 16_000_000
    assert not list(tmp_path.glob(".*.part"))


def write_jsonl(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_render_from_jsonl(tmp_path):
    exps = three_reviews()
    src = tmp_path / "results.jsonl"
    lines = [json.dumps(e.to_dict()) for e in exps]
    lines.insert(2, "")
    lines.append(json.dumps({"row": 9, "id": "r9", "error": "empty text"}))
    write_jsonl(src, lines)
    out = tmp_path / "report.html"
    assert render_report_from_results(src, out) == 3
    root = parse(out.read_text(encoding="utf-8"))
    assert len(root.find_all("details", "rv")) == 3
    assert "row 9 (r9): empty text" in root.text()
    settings = dict(zip((n.text() for n in root.find_all("dt")), (n.text() for n in root.find_all("dd"))))
    assert settings["source"] == "results.jsonl" and settings["failed rows"] == "1"


@pytest.mark.parametrize(
    "bad, message",
    [("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object"), ('{"id": "x"}', "not an explanation record")],
)
def test_render_from_jsonl_rejects_malformed_line_with_its_number(tmp_path, bad, message):
    src = tmp_path / "results.jsonl"
    write_jsonl(src, [json.dumps(e.to_dict()) for e in three_reviews()[:2]] + [bad])
    out = tmp_path / "report.html"
    with pytest.raises(ValueError, match=rf"results\.jsonl:3: {message}"):
        render_report_from_results(src, out)
    assert not out.exists()
    assert not list(tmp_path.glob(".*.part"))


def test_stylesheet_is_the_package_css_file():
    static = resources.files("saliency_cli.report").joinpath("report.css").read_text(encoding="utf-8")
    assert static.startswith("*{box-sizing:border-box}") and "@media print" in static
    css = parse(render(three_reviews())).find_all("style")[0].text()
    assert css.startswith("\n" + static)
    assert ".p20{background:" in css and "#f1:checked~main" in css  # generated rules follow it


def test_incremental_report_matches_write_html_report(tmp_path):
    exps = three_reviews()
    errors = [RowError(4, "r4", "empty text"), RowError(5, None, "too long")]
    out = tmp_path / "report.html"
    report = HtmlReport(out, level="token", open_first=1, title="Mine")
    report.add_review(exps[:2])
    report.add_error(errors[0])
    report.add_review([])  # nothing
    report.add_review(exps[2:3])
    report.add_error(errors[1])
    report.add_review(exps[3:])
    assert not out.exists()
    assert report.close({"device": "cpu"}) == 3
    expected = render(exps, level="token", open_first=1, title="Mine", errors=errors, run_info={"device": "cpu"})
    assert out.read_text(encoding="utf-8") == expected
    assert "row 4 (r4): empty text" in expected and "row 5: too long" in expected
    with pytest.raises(ValueError, match="closed"):
        report.add_review(exps[:1])


def test_discard_writes_nothing(tmp_path):
    out = tmp_path / "report.html"
    report = HtmlReport(out)
    report.add_review(three_reviews()[:2])
    report.discard()
    report.discard()
    assert not out.exists() and not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="closed"):
        report.close()


def test_incremental_report_checks_level_and_path_before_any_review(tmp_path):
    with pytest.raises(ValueError, match="level"):
        HtmlReport(tmp_path / "r.html", level="char")
    with pytest.raises(OutputError, match="does not exist"):
        HtmlReport(tmp_path / "missing" / "r.html")
    with pytest.raises(OutputError, match="directory"):
        HtmlReport(tmp_path)


def test_failed_input_leaves_an_existing_report_untouched(tmp_path):
    out = tmp_path / "report.html"
    out.write_text("old", encoding="utf-8")

    def gen():
        yield from three_reviews()
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError):
        write_html_report(gen(), out)
    assert out.read_text(encoding="utf-8") == "old"
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_output_is_written_in_place(tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert write_html_report(three_reviews(), fifo) == 3
    reader.join(timeout=30)
    assert not reader.is_alive()
    assert received[0].decode("utf-8") == render(three_reviews())
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.fifo"]


@pytest.mark.skipif(not os.path.exists(os.devnull) or os.devnull != "/dev/null", reason="needs /dev/null")
def test_character_device_output_stays_a_device():
    assert write_html_report(three_reviews(), os.devnull) == 3
    report = HtmlReport(os.devnull)
    report.add_review(three_reviews()[:1])
    assert report.close() == 1
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert not os.path.exists(os.path.join(os.path.dirname(os.devnull), ".null.part"))


def test_dash_writes_to_stdout(capsys, tmp_path):
    assert write_html_report(three_reviews(), "-", run_info={"k": "\u00e9"}) == 3
    assert capsys.readouterr().out == render(three_reviews(), run_info={"k": "\u00e9"})
    assert not (tmp_path / "-").exists() and not Path("-").exists()
    report = HtmlReport("-")
    report.add_review(three_reviews()[3:])
    print("before", end="")
    assert report.close() == 1
    out = capsys.readouterr().out
    assert out.startswith("before<!DOCTYPE html>") and out.endswith("</html>\n")


def test_render_from_jsonl_reads_stdin(tmp_path, monkeypatch):
    exps = three_reviews() + [make_explanation("r4", "Tr\u00e8s bien \u2014 \U0001f600")]
    records = [e.to_dict() for e in exps] + [{"row": 9, "id": None, "error": "x"}]
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    # stdin is read as UTF-8 whatever its declared encoding
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data.encode("utf-8")), encoding="ascii"))
    out = tmp_path / "report.html"
    assert render_report_from_results("-", out) == 4
    doc = out.read_text(encoding="utf-8")
    assert doc == render(exps, run_info={"source": "<stdin>"}, errors=[RowError(9, None, "x")])
    assert not sys.stdin.closed

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"{}\n{oops\n")))
    with pytest.raises(ValueError, match=r"^<stdin>:1: not an explanation record"):
        render_report_from_results("-", out)


def chromium_binary() -> str | None:
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def run_chromium(binary: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_headless_chromium_renders_malicious_text_as_text(tmp_path):
    binary = chromium_binary()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install chromium) - browser check skipped")
    report = tmp_path / "report.html"
    write_html_report(malicious_reviews() + three_reviews(), report, run_info={"note": XSS_SCRIPT})
    result = run_chromium(binary, tmp_path, "--dump-dom", report.as_uri())
    dom = result.stdout
    assert "</html>" in dom, result.stderr[-2000:]
    root = parse(dom)
    tags = {n.tag for n in root.iter()}
    assert "img" not in tags and "script" not in tags and "svg" not in tags
    assert len(root.find_all("details", "rv")) == 5
    para = root.find_all("p", "tx")[0]
    assert XSS_SCRIPT in para.text(skip=("i",)) and XSS_IMG in para.text(skip=("i",))
    # the stylesheet was allowed by the CSP hash, so nothing was refused
    assert "Content Security Policy" not in result.stderr, result.stderr[-2000:]

    shot = tmp_path / "report.png"
    run_chromium(binary, tmp_path, f"--screenshot={shot}", "--window-size=1000,800", "--hide-scrollbars", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000


def test_predicted_labels_are_listed_in_the_model_label_order_and_settings_fit_their_card():
    stars = ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]
    probs = {s: 0.2 for s in stars}
    chosen = ["5 stars", "5 stars", "5 stars", "1 star", "3 stars", "3 stars"]
    exps = [make_explanation(str(i), "fine words here", label=label, probs=probs) for i, label in enumerate(chosen)]
    out = io.StringIO()
    write_html_report(exps, out, run_info={"input": "reviews_hidden.csv"})
    page = out.getvalue()
    dist = page.split("<h3>Predicted labels</h3>", 1)[1].split("</div></div>", 1)[0]
    assert [s for s in re.findall(r'<span class="pn">([^<]+)</span>', dist)] == ["1 star", "3 stars", "5 stars"]
    chips = re.findall(r'<label for="f\d+">([^<]+)<b>', page)
    assert chips == ["1 star", "3 stars", "5 stars"]  # not by count (5 stars first)
    assert '<div class="card wide"><h3>Run settings</h3>' in page  # a card two columns wide ...
    css = html_page.base_css()
    assert ".card.wide{grid-column:span 2}" in css and "overflow-wrap:break-word" in css  # ... that breaks no word it can fit
    assert "overflow-wrap:anywhere;font-family" not in css


def test_the_users_own_label_is_shown_escaped_and_a_disagreement_is_marked():
    agree = dataclasses.replace(make_explanation("r1", TEXT3, [0.2, 0.0]), label="positive", labelled=True)
    differ = dataclasses.replace(make_explanation("r2", TEXT2, [0.1] * 6), label=XSS_SCRIPT, labelled=True)
    missing = dataclasses.replace(make_explanation("r3", TEXT3, [0.2, 0.0]), label=None, labelled=True)
    root = parse(render([agree, differ, missing]))
    chips = root.find_all("span", "gold")
    assert [c.text() for c in chips] == ["label positive", f"label {XSS_SCRIPT}", "no label"]
    assert ["miss" in c.classes for c in chips] == [False, True, False]
    assert "1 of 2 agree with the prediction" in root.text()
    assert not render([make_explanation("r4", TEXT3, [0.2, 0.0])]).count('class="gold')

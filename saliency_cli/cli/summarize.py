"""``saliency-cli summarize``: what drives the model across whole files of saved results (no model
needed): per method and target label the words that most support and oppose it, with intervals, and
with gold labels the confusion view; tables on stderr, JSON, word-level CSV and an HTML page."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path
from typing import Iterable, Iterator, List, Optional

import typer

from saliency_cli.cli.console import err, fail, plural
from saliency_cli.inputs.files import GLOB_CHARS
from saliency_cli.outputs.formats import EXTENSIONS
from saliency_cli.records import Explanation, RowError

SHOWN_PROBLEMS = 20  # malformed lines listed one by one on stderr
EXIT_SOME_LINES = 3


class Problems:
    """Malformed lines met while reading: the first ``SHOWN_PROBLEMS`` kept to be listed on stderr once the
    files are read (a file that holds no results at all is one error instead), and counted."""

    def __init__(self) -> None:
        self.count = 0
        self.shown: list[str] = []

    def add(self, exc: ValueError) -> None:
        self.count += 1
        if len(self.shown) < SHOWN_PROBLEMS:
            self.shown.append(str(exc))

    def report(self) -> None:
        for line in self.shown:
            err.print(f"skipped {line}", markup=False)
        if self.count > len(self.shown):
            err.print(f"... {plural(self.count - len(self.shown), 'more malformed line')}", markup=False)


RESULT_SUFFIXES = tuple(EXTENSIONS)  # what explain writes


def sources(results: List[str]) -> list[tuple[str, str]]:
    """(path or ``-``, name) of every results file: a file; a folder (an ``--output-dir`` whose
    ``manifest.json`` lists its parts in input order, else its results files in name order); a
    quoted glob (the files it matches, in name order). ValueError for what cannot be read."""
    out: list[tuple[str, str]] = []
    for given in results:
        path = Path(given)
        if given == "-":
            out.append(("-", "<stdin>"))
        elif path.is_dir():
            out.extend(_folder(path, given))
        elif path.is_file():
            out.append((given, given))
        elif any(c in given for c in GLOB_CHARS):
            matched = sorted(p for p in glob.glob(given, recursive=True) if os.path.isfile(p))
            if not matched:
                raise ValueError(f"no results file matches {given}")
            out.extend((p, p) for p in matched)
        else:
            raise ValueError(f"results file not found: {given}")
    seen = [str(Path(p).resolve()) if p != "-" else p for p, _ in out]
    twice = next((name for (p, name), key in zip(out, seen) if seen.count(key) > 1), None)
    if twice is not None:
        raise ValueError(f"{twice} is named twice: each file would be counted twice")
    return out


def _folder(path: Path, given: str) -> list[tuple[str, str]]:
    """A Ray ``--output-dir``'s parts in manifest order, or a folder's results files in name order."""
    from saliency_cli.runners.ray.parts import MANIFEST

    manifest = path / MANIFEST
    if not manifest.is_file():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in RESULT_SUFFIXES
                       and not p.name.startswith("."))
        if not files:
            raise ValueError(f"{given} is a folder without {MANIFEST} or results files "
                             f"({', '.join(RESULT_SUFFIXES)})")
        return [(str(p), str(p)) for p in files]
    listed = json.loads(manifest.read_text(encoding="utf-8"))
    if not listed.get("complete", True):
        err.print(f"note: {given}: that run did not finish; summarizing the parts it wrote", markup=False)
    return [(str(path / p["file"]), str(path / p["file"])) for p in listed.get("parts", [])]


def _words_only(records: Iterable[Explanation | RowError], name: str) -> Iterator[Explanation | RowError]:
    """The records, refusing token-level CSV (its rows are tokens, not the words summarize counts)."""
    from saliency_cli.outputs.saved_csv import is_from_csv

    for record in records:
        if isinstance(record, Explanation) and record.tokens and is_from_csv(record):
            raise ValueError(f"{name} is token-level CSV; summarize counts words: give the JSONL, or CSV written "
                             "with --level word")
        yield record


def read_all(named: list[tuple[str, str]], options, problems: Problems):
    """One tally per file, merged in order (as Ray parts or a resumed file would be). ValueError: a
    file of another run, token-level CSV, or a file with no record of explain results at all."""
    from saliency_cli.evaluation.corpus import CorpusTally
    from saliency_cli.outputs.saved import read_results

    total = CorpusTally(options)
    for path, name in named:
        part, bad = CorpusTally(options), []

        def on_error(exc: ValueError) -> None:
            bad.append(exc)
            if part.records + part.failed == 0 and len(bad) >= SHOWN_PROBLEMS:
                raise NotResults(no_results(name, bad[0]))
            problems.add(exc)

        try:
            part.feed(_words_only(read_results(path, name, on_error=on_error), name))
            total.merge(part)
        except UnicodeDecodeError:
            raise ValueError(f"{name} is not UTF-8 text: give results written by 'saliency-cli explain'") from None
        except ValueError as exc:
            raise ValueError(str(exc) if str(exc).startswith(name) else f"{name}: {exc}") from None
        if part.records + part.failed == 0 and bad:
            raise ValueError(no_results(name, bad[0]))
    return total


def no_results(name: str, first: ValueError) -> str:
    return (f"{name} holds no explain results (JSONL records, or the CSV explain writes with its header); "
            f"first problem: {first}")


class NotResults(ValueError):
    """A file whose first lines are none of them results: stop reading it."""


def summarize(
    results: List[str] = typer.Argument(..., metavar="RESULTS", help="JSONL, or CSV written with --level word, by "
                                        "'saliency-cli explain'; an --output-dir folder; '-' reads stdin. Several "
                                        "are summarized together."),
    json_path: Optional[str] = typer.Option(None, "--json", metavar="PATH", help="Write the summary JSON ('-': stdout)."),
    csv_path: Optional[str] = typer.Option(None, "--csv", metavar="PATH", help="Write one CSV row per group x word."),
    html: Optional[str] = typer.Option(None, "--html", metavar="PATH", help="Write a self-contained HTML page."),
    top: int = typer.Option(10, "--top", min=1, metavar="N", help="Supporting and opposing words shown per group."),
    top_k: int = typer.Option(5, "--top-k", min=1, metavar="K", help="top_share / bottom_share: how often a word is "
                              "among a review's K highest / lowest scored words."),
    min_count: int = typer.Option(5, "--min-count", min=1, metavar="N", help="Leave out words in fewer than N reviews "
                                  "of a group."),
    keep_punctuation: bool = typer.Option(False, "--keep-punctuation", help="Keep words without a letter or digit."),
    snippets: int = typer.Option(3, "--snippets", min=0, metavar="N", help="Reviews quoted per word on the page."),
    examples: int = typer.Option(3, "--examples", min=0, metavar="N", help="Example reviews per mistake and method."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No tables on stderr (problems still shown)."),
) -> None:
    """What drives the model across whole files of saved results (no model needed)."""
    from saliency_cli.evaluation.corpus import CorpusOptions
    from saliency_cli.outputs.paths import OutputError
    from saliency_cli.report.corpus_files import check_paths, write_summary
    from saliency_cli.report.corpus_tables import tables

    paths = {"json": json_path, "csv": csv_path, "html": html}
    problems = Problems()
    try:
        check_paths(paths)
        named = sources(results)
        options = CorpusOptions(min_count, top_k, keep_punctuation, snippets if html else 0, examples, top)
        tally = read_all(named, options, problems)
    except (ValueError, OutputError) as exc:
        raise fail(str(exc)) from None
    problems.report()
    info = [("results", ", ".join(results)), ("reviews", tally.reviews), ("failed rows in the results", tally.failed),
            ("malformed lines skipped", problems.count)]
    try:
        summary = write_summary(tally, paths, top, info)
    except OSError as exc:
        raise fail(f"cannot write {exc.filename}: {exc.strerror}") from None
    if not quiet:
        for table in tables(summary, top):
            err.print(table)
        err.print(f"summarized {plural(tally.reviews, 'review')} ({plural(tally.records, 'explanation')}) from "
                  f"{plural(len(named), 'file')}" + (f"; {plural(problems.count, 'malformed line')} skipped"
                                                    if problems.count else ""), markup=False)
    raise typer.Exit(EXIT_SOME_LINES if problems.count else 0)

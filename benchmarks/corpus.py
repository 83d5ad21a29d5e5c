"""Benchmark corpora: whole Amazon reviews (long) and their one-sentence snippets (short).

Both come from the Amazon product-review ground truth of the VADER paper (Hutto & Gilbert,
ICWSM 2014): ``amazonReviewSnippets_GroundTruth.txt`` holds ``<review>_<snippet><TAB>rating<TAB>text``
lines; the snippets of a review, joined in order, give back the whole review.

* long  -> ``sample_data/amazon_reviews_full.jsonl`` (fields ``review_id``, ``text``, ...)
* short -> ``sample_data/reviews.jsonl`` (fields ``id`` or ``review_id``, and ``text``)

When a file is missing, pass ``--source`` with the path of the VADER ground-truth file (from
``pip download --no-deps --no-binary :all: vadersentiment==3.3.2``, archive
``additional_resources/hutto_ICWSM_2014.tar.gz``) and the corpus is built from it in memory.
``python -m benchmarks.corpus --source FILE --out-dir DIR`` writes both corpora as JSONL.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from saliency_cli.records import Review

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILES = {
    "long": ROOT / "sample_data" / "amazon_reviews_full.jsonl",
    "short": ROOT / "sample_data" / "reviews.jsonl",
}
KINDS = tuple(DEFAULT_FILES)


def read_snippets(source: Path) -> list[tuple[str, int, float, str]]:
    """(review id, snippet number, rating, text) of every line of the VADER ground-truth file."""
    out = []
    with open(source, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) < 3 or "_" not in parts[0]:
                continue
            review, _, snippet = parts[0].partition("_")
            out.append((review, int(snippet), float(parts[1]), "\t".join(parts[2:]).strip()))
    return out


def records_from_vader(source: Path, kind: str) -> list[dict]:
    """The corpus records built from the VADER file: snippets (short) or whole reviews (long)."""
    snippets = read_snippets(source)
    if kind == "short":
        return [
            {"id": f"{r}_{s}", "review_id": r, "rating": rating, "text": text}
            for r, s, rating, text in snippets
            if text
        ]
    grouped: dict[str, list[tuple[int, float, str]]] = {}
    for r, s, rating, text in snippets:
        grouped.setdefault(r, []).append((s, rating, text))
    records = []
    for r, parts in grouped.items():  # insertion order = file order
        parts.sort()
        text = " ".join(t for _, _, t in parts if t)
        if text:
            mean = sum(p for _, p, _ in parts) / len(parts)
            records.append({"review_id": r, "text": text, "snippets": len(parts), "mean_rating": mean})
    return records


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_corpus(kind: str, limit: int | None = None, path: str | Path | None = None,
                source: str | Path | None = None) -> list[Review]:
    """The first ``limit`` reviews of a corpus as :class:`Review` objects (ids kept from the file)."""
    if kind not in KINDS:
        raise ValueError(f"unknown corpus {kind!r}; choose from {', '.join(KINDS)}")
    file = Path(path) if path else DEFAULT_FILES[kind]
    if path or file.is_file():
        records = read_jsonl(file)
        origin = str(file)
    elif source:
        records = records_from_vader(Path(source), kind)
        origin = f"{source} (built in memory)"
    else:
        raise FileNotFoundError(
            f"{file} does not exist; pass --corpus-file, or --source with the VADER "
            "amazonReviewSnippets_GroundTruth.txt file to build the corpus from it"
        )
    reviews = []
    for i, rec in enumerate(records, start=1):
        text = str(rec.get("text") or "")
        if not text.strip():
            continue
        rid = str(rec.get("id") or rec.get("review_id") or i)
        reviews.append(Review(id=rid, text=text, row=i, source=origin))
        if limit is not None and len(reviews) >= limit:
            break
    return reviews


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, help="VADER amazonReviewSnippets_GroundTruth.txt")
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for kind, name in (("long", "amazon_reviews_full.jsonl"), ("short", "reviews.jsonl")):
        records = records_from_vader(Path(args.source), kind)
        with open(out / name, "w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        print(f"{kind}: {len(records)} records -> {out / name}")


if __name__ == "__main__":
    main()

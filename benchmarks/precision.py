"""Reduced precision against float32: speed and attribution accuracy on the trained default model.

    python -m benchmarks.precision --limit 30 --method ig

Runs the engine twice on the same reviews (``--dtype float32`` and ``--dtype bfloat16``, or the
dtypes given) and reports the time of each, the speed-up, and how far the low-precision scores are
from float32: the largest error relative to each review's largest |score|, the share of reviews
whose top-5 tokens (by |score|) are the same set, and whether the predicted label changed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from saliency_cli.runners.local import explain_reviews
from saliency_cli.settings import make_settings
from saliency_cli.model.loading import load_model
from saliency_cli.records import Explanation, Review

CORPORA = {"long": "sample_data/amazon_reviews_full.jsonl", "short": "sample_data/reviews.jsonl"}


def top_k(scores: list[float], k: int = 5) -> set[int]:
    return set(sorted(range(len(scores)), key=lambda i: -abs(scores[i]))[:k])


def compare(reference: list[Explanation], other: list[Explanation]) -> dict[str, float]:
    """Max / median relative error, mean top-5 overlap, and prediction agreement of ``other``."""
    rel, overlap, same_pred = [], [], []
    for a, b in zip(reference, other):
        x = [t.score for t in a.tokens]
        y = [t.score for t in b.tokens]
        scale = max(abs(v) for v in x) or 1.0
        rel.append(max(abs(p - q) for p, q in zip(x, y)) / scale)
        overlap.append(len(top_k(x) & top_k(y)) / min(5, len(x)))
        same_pred.append(a.prediction.index == b.prediction.index)
    return {
        "max_rel_error": max(rel),
        "median_rel_error": statistics.median(rel),
        "top5_agreement": sum(overlap) / len(overlap),
        "prediction_agreement": sum(same_pred) / len(same_pred),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="long")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--method", default="ig")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--model", default=None, help="folder or hub id (default: the embedded model)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    lm = load_model(args.model, device="cpu")
    rows = [json.loads(line) for line in Path(CORPORA[args.corpus]).read_text(encoding="utf-8").splitlines()]
    reviews = [Review(str(i), r["text"], i) for i, r in enumerate(rows[: args.limit], start=1)]
    dtypes = args.dtypes.split(",")
    runs: dict[str, tuple[float, list[Explanation]]] = {}
    for dtype in dtypes:
        settings = make_settings([args.method], batch_size=args.batch_size, dtype=dtype)
        explain_reviews(lm, reviews[:1], settings)  # warm-up
        start = time.perf_counter()
        out = explain_reviews(lm, reviews, settings)
        runs[dtype] = (time.perf_counter() - start, out)
    ref_seconds, ref = runs[dtypes[0]]
    report = {"model": lm.name, "corpus": args.corpus, "reviews": len(reviews), "method": args.method, "runs": []}
    print(f"{lm.name}, {len(reviews)} {args.corpus} reviews, {args.method}")
    for dtype in dtypes:
        seconds, out = runs[dtype]
        row = {"dtype": dtype, "seconds": seconds, "speedup": ref_seconds / seconds, **compare(ref, out)}
        report["runs"].append(row)
        print(
            f"{dtype:>9}: {seconds:7.1f} s  x{row['speedup']:.2f}  max rel err {row['max_rel_error']:.2e}  "
            f"median {row['median_rel_error']:.2e}  top-5 agreement {row['top5_agreement']:.3f}  "
            f"same prediction {row['prediction_agreement']:.3f}"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

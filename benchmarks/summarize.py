"""What ``saliency-cli summarize`` costs: rows/s and peak memory over generated results of 10k, 100k, 1M rows.

    python -m benchmarks.summarize                                 # 10k, 100k and 1M rows
    python -m benchmarks.summarize --rows 10000 100000 --html --out summarize.json

Each size is a JSONL file shaped as ``explain`` writes it (schema 1: tokens and words, one record per
review x method x target; short reviews of 6 to 18 words, two methods, the predicted label explained,
gold labels on 90 % of the reviews), written once to a temporary folder; the words come from a fixed
vocabulary (``--vocabulary``, Zipf-distributed, as words in reviews are), so the sizes differ in rows,
not in vocabulary. ``summarize FILE --json OUT -q`` (with ``--html``: the page too, which keeps up to 3
snippets per word) runs in a fresh process; its peak RSS is ``ru_maxrss`` of that process and its
rows/s counts records (JSONL lines) over its whole wall time, start-up and reading included.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LABELS = ("1 star", "2 stars", "3 stars", "4 stars", "5 stars")
METHODS = ("integrated-gradients", "occlusion")
CHILD = ("import resource, sys\nfrom saliency_cli.cli import main\nsys.argv[0] = 'saliency-cli'\ntry:\n    main()\n"
         "except SystemExit:\n    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n    raise")


def vocabulary(size: int, rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(size * 2)}
    return sorted(words)[:size]


def record(i: int, method: str, words: list[str], rng: random.Random, gold: str | None) -> dict:
    """One explain record of review ``i`` with ``words`` (one token each, scores from ``rng``)."""
    text = " ".join(words)
    starts = [sum(len(w) + 1 for w in words[:k]) for k in range(len(words))]
    scores = [round(rng.gauss(0.0, 0.05), 6) for _ in words]
    probs = [rng.random() for _ in LABELS]
    total = sum(probs)
    probs = {label: p / total for label, p in zip(LABELS, probs)}
    predicted = max(probs, key=probs.get)
    tokens = [{"token": "[CLS]", "start": 0, "end": 0, "score": 0.0, "special": True}]
    tokens += [{"token": w, "start": a, "end": a + len(w), "score": s, "special": False}
               for w, a, s in zip(words, starts, scores)]
    tokens.append({"token": "[SEP]", "start": 0, "end": 0, "score": 0.0, "special": True})
    out = {"schema": 1, "id": str(i), "row": i, "text": text, "model": "bench/model", "method": method,
           "params": {}, "attribute": "probability",
           "prediction": {"label": predicted, "index": LABELS.index(predicted), "probs": probs},
           "target": {"label": predicted, "index": LABELS.index(predicted)}, "normalization": "none",
           "truncated": False, "dropped_tokens": 0, "delta": None, "windows": 1, "tokens": tokens,
           "words": [{"word": w, "start": a, "end": a + len(w), "score": s} for w, a, s in zip(words, starts, scores)]}
    out["label"] = gold
    return out


def write_rows(path: Path, rows: int, vocab_size: int, seed: int = 0) -> int:
    """A results file of ``rows`` records; returns its size in bytes."""
    rng = random.Random(seed)
    vocab = vocabulary(vocab_size, rng)
    weights = [1.0 / (k + 1) for k in range(len(vocab))]  # Zipf: a few words are in most reviews
    with path.open("w", encoding="utf-8") as fh:
        i = 0
        while i < rows:
            words = rng.choices(vocab, weights, k=rng.randint(6, 18))
            gold = rng.choice(LABELS) if rng.random() < 0.9 else None
            for method in METHODS[: rows - i]:
                fh.write(json.dumps(record(i // len(METHODS) + 1, method, words, rng, gold)) + "\n")
                i += 1
    return path.stat().st_size


def run_once(path: Path, html: bool) -> tuple[float, float]:
    """(seconds, peak RSS MB) of ``summarize`` on ``path`` in a fresh process."""
    out = path.with_suffix(".summary.json")
    cmd = [sys.executable, "-c", CHILD, "summarize", str(path), "--json", str(out), "-q"]
    if html:
        cmd += ["--html", str(path.with_suffix(".html"))]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"summarize failed: {proc.stderr.strip()[-500:]}")
    return seconds, int(proc.stderr.strip().splitlines()[-1]) / 1024


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--vocabulary", type=int, default=5_000)
    parser.add_argument("--html", action="store_true", help="also write the page (snippets kept per word)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    env_path = str(Path(__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = env_path + os.pathsep + os.environ.get("PYTHONPATH", "")
    results = []
    with open("/proc/loadavg") if os.path.exists("/proc/loadavg") else open(os.devnull) as fh:
        load = fh.read().strip()
    print(f"load before: {load or 'unknown'}")
    print(f"{'rows':>9} {'file MB':>8} {'seconds':>8} {'rows/s':>8} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            path = Path(tmp) / f"rows{rows}.jsonl"
            size = write_rows(path, rows, args.vocabulary)
            seconds, peak = run_once(path, args.html)
            results.append({"rows": rows, "file_mb": size / 1e6, "seconds": seconds, "rows_per_s": rows / seconds,
                            "peak_rss_mb": peak, "vocabulary": args.vocabulary, "html": args.html})
            print(f"{rows:>9} {size / 1e6:>8.1f} {seconds:>8.1f} {rows / seconds:>8.0f} {peak:>12.1f}", flush=True)
            path.unlink()
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()

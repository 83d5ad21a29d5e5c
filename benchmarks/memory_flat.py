"""Peak memory of a streaming run over N rows: flat memory means the peak does not grow with N.

    python -m benchmarks.memory_flat --rows 10000 100000

Each size runs in a fresh subprocess (CLI, tiny model, gradient method, JSONL to a file); the
child's peak RSS comes from ``resource.getrusage(RUSAGE_CHILDREN)``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(model_dir: Path, rows: int, work: Path) -> tuple[float, float]:
    src = work / f"rows{rows}.txt"
    with src.open("w") as fh:
        for i in range(rows):
            fh.write(f"review {i}: the battery is {'great' if i % 2 else 'awful'} and the screen is fine\n")
    cmd = [sys.executable, "-c",
           "import resource, sys; from saliency_cli.cli import main; sys.argv[0] = 'saliency-cli';\n"
           "try:\n    main()\nexcept SystemExit as e:\n"
           "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); raise",
           "explain", "-i", str(src), "--model", str(model_dir), "--method", "grad", "-b", "64",
           "-o", str(work / f"out{rows}.jsonl"), "-q"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    peak_kb = int(proc.stderr.strip().splitlines()[-1])
    return peak_kb / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.conftest import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = build_tiny_model("bert", work / "model")
        print(f"{'rows':>8} {'peak RSS MB':>12} {'seconds':>8} {'rows/s':>8}")
        for rows in args.rows:
            peak, seconds = run_once(model_dir, rows, work)
            print(f"{rows:>8} {peak:>12.1f} {seconds:>8.1f} {rows / seconds:>8.0f}")


if __name__ == "__main__":
    main()

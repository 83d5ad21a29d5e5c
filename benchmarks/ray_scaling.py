"""``--engine ray`` against the local engine on one machine: start-up overhead, rows/s, memory.

    pip install -e ".[ray]"
    python -m benchmarks.ray_scaling --limit 48 --steps 50 --batch-size 8 --workers 1,2

Explains the first ``--limit`` reviews of ``sample_data/reviews.jsonl`` with Integrated Gradients
on the embedded model, once in this process (the local engine) and once per worker count on a
private local Ray instance sized by the default rule (README, "Scaling out with Ray"). For Ray it
reports the start-up (``ray.init``), the time to the first answered batch (actors started, model
loaded, one batch explained), the whole wall time, rows/s over the whole run and after the first
batch, and the resident memory of the actors and of Ray's own processes (sampled from /proc, this
process's descendants only). Every Ray run's scores are checked against the local run's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time
from pathlib import Path

from saliency_cli.model.loading import load_model
from saliency_cli.runners.local import run_explain
from saliency_cli.runners.ray.cluster import RayOptions
from saliency_cli.runners.ray.driver import run_explain_ray
from saliency_cli.runners.ray.actor import ModelSpec
from saliency_cli.inputs import InputSpec, open_reviews
from saliency_cli.settings import make_settings

REVIEWS = Path(__file__).resolve().parent.parent / "sample_data" / "reviews.jsonl"


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return 0.0


def _descendants(root: int) -> dict[int, str]:
    """pid -> command line of every process below ``root`` (Linux /proc)."""
    parent: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                parent[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                names[int(entry)] = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue
    out, frontier = {}, {root}
    while frontier:
        frontier = {pid for pid, ppid in parent.items() if ppid in frontier and pid not in out}
        out.update({pid: names.get(pid, "") for pid in frontier})
    return out


class MemorySampler:
    """Peak RSS of the actor processes (each) and of Ray's other processes (together)."""

    def __init__(self) -> None:
        self.actor_peak: dict[int, float] = {}
        self.runtime_peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            runtime = 0.0
            for pid, cmd in _descendants(os.getpid()).items():
                rss = _rss_mb(pid)
                if "MapWorker" in cmd:
                    self.actor_peak[pid] = max(self.actor_peak.get(pid, 0.0), rss)
                else:  # raylet, GCS, dashboard agents, idle pre-started workers
                    runtime += rss
            self.runtime_peak = max(self.runtime_peak, runtime)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def runtime_idle_mb(settle_s: float = 3.0) -> float:
    """Resident memory of an idle private Ray instance (its processes, not this driver)."""
    from saliency_cli.runners.ray.cluster import import_ray, init_ray

    ray = import_ray()
    init_ray(ray, RayOptions(workers=(1, 1)))
    try:
        time.sleep(settle_s)
        return sum(_rss_mb(pid) for pid in _descendants(os.getpid()))
    finally:
        ray.shutdown()


def max_diff(a: list, b: list) -> float:
    """Largest |score| difference between two runs' explanations (same reviews, same order)."""
    assert [e.id for e in a] == [e.id for e in b], "rows differ"
    return max(abs(x.score - y.score) for p, q in zip(a, b) for x, y in zip(p.tokens, q.tokens))


def bench_local(spec: InputSpec, settings) -> tuple[dict, list]:
    out: list = []
    t0 = time.perf_counter()
    lm = load_model(None, device="cpu")
    t1 = time.perf_counter()
    summary = run_explain(lm, open_reviews(spec), settings, out.extend)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"engine": "local", "rows": summary.explained, "load_s": round(t1 - t0, 2), "run_s": round(t2 - t1, 2),
            "wall_s": round(t2 - t0, 2), "rows_per_s": round(summary.explained / (t2 - t1), 3),
            "process_peak_rss_mb": round(peak)}, out


def bench_ray(spec: InputSpec, settings, workers: int) -> tuple[dict, list]:
    out: list = []
    marks: dict[str, float] = {}
    first_rows = [0]

    def on_block(frame) -> None:
        marks["last"] = time.perf_counter()
        if "first" not in marks:
            marks["first"] = marks["last"]
            first_rows[0] = len(frame)

    t0 = time.perf_counter()
    with MemorySampler() as memory:
        summary = run_explain_ray(open_reviews(spec), settings, out.extend, model=ModelSpec(None, "cpu"),
                                  options=RayOptions(workers=(workers, workers)),
                                  on_ready=lambda sizing: marks.setdefault("ready", time.perf_counter()),
                                  on_block=on_block)
    t1 = time.perf_counter()
    rest = summary.explained - first_rows[0]
    actors = sorted(memory.actor_peak.values())
    return {
        "engine": f"ray x{workers}", "rows": summary.explained, "init_s": round(marks["ready"] - t0, 2),
        "first_batch_s": round(marks["first"] - marks["ready"], 2), "wall_s": round(t1 - t0, 2),
        "rows_per_s": round(summary.explained / (t1 - t0), 3),
        "rows_per_s_after_first_batch": round(rest / (marks["last"] - marks["first"]), 3) if rest else None,
        "actor_rss_mb": [round(a) for a in actors], "ray_processes_peak_mb": round(memory.runtime_peak),
    }, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=48, help="reviews to explain")
    parser.add_argument("--steps", type=int, default=50, help="Integrated Gradients steps")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", default="1,2", help="worker counts to try, comma-separated")
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args()

    import tempfile

    folder = Path(tempfile.mkdtemp())
    src = folder / "reviews.jsonl"
    src.write_text("".join(REVIEWS.read_text(encoding="utf-8").splitlines(keepends=True)[: args.limit]))
    spec = InputSpec(path=str(src))
    settings = make_settings(["ig"], options={"steps": args.steps}, batch_size=args.batch_size)
    results = [{"machine": {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()},
                "idle_ray_runtime_mb": round(runtime_idle_mb())}]
    print(json.dumps(results[0]), flush=True)
    one = InputSpec(texts=("A tired, unnecessary retread.",))
    quick = make_settings(["grad"])
    for name, row in (("local", bench_local(one, quick)[0]), ("ray x1", bench_ray(one, quick, 1)[0])):
        results.append({"one_review_gradient": name, "wall_s": row["wall_s"]})  # start-up cost alone
        print(json.dumps(results[-1]), flush=True)
    local, reference = bench_local(spec, settings)
    results.append(local)
    print(json.dumps(local), flush=True)
    for workers in [int(w) for w in args.workers.split(",")]:
        row, got = bench_ray(spec, settings, workers)
        row["max_score_diff_vs_local"] = max_diff(reference, got)
        row["speed_vs_local"] = round(row["rows_per_s"] / local["rows_per_s"], 2)
        results.append(row)
        print(json.dumps(row), flush=True)
    again, _ = bench_local(spec, settings)  # the machine may be shared: a second local run brackets the Ray runs
    again["engine"] = "local (again)"
    results.append(again)
    print(json.dumps(again), flush=True)
    results[0]["machine"]["load_average_after"] = os.getloadavg()
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

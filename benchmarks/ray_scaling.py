"""``--engine ray`` against the local engine: start-up, first-row latency, rows/s, model loads, memory,
the driver's memory on a 1-million-row input, and what a lost worker node costs.

    pip install -e ".[ray]"
    python -m benchmarks.ray_scaling --limit 48 --steps 50 --workers 1,2            # throughput
    python -m benchmarks.ray_scaling --part million --million-rows 1000000          # driver memory
    python -m benchmarks.ray_scaling --part faults                                  # a lost node, a killed actor

**throughput**: the first ``--limit`` reviews of ``sample_data/reviews.jsonl``, split into two shard
files, explained with Integrated Gradients on the embedded model, once in this process (the local
engine) and once per worker count on a private local Ray instance sized by the default rule. For
each: start-up (local: the model load; Ray: ``ray.init`` until the actors are sized), the first
row's latency from the start, wall time, rows/s over the run and after the first row, model loads
(Ray: counted by the actors), the actors' resident memory, and every Ray run's largest score
difference from the local run.

**million**: ``--million-rows`` short generated reviews in four shard files, the gradient method on
the test suite's tiny model, ``-o FILE.jsonl``, each engine in a fresh CLI process whose resident
memory is sampled from /proc as the output grows: the driver must stay flat.

**faults**: on ``ray.cluster_utils.Cluster`` (a head and two 1-CPU worker nodes), the same run three
times: undisturbed, with an actor killed (SIGKILL), and with the worker node of an actor removed,
each after the first block: wall time, model loads, and whether every row came back once with the
local rows. Then the tests marked ``slow`` (``tests/runners/ray``) run with pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REVIEWS = Path(__file__).resolve().parent.parent / "sample_data" / "reviews.jsonl"
ROOT = Path(__file__).resolve().parent.parent


def load_note() -> dict:
    """The machine's load, to print beside every figure."""
    with open("/proc/loadavg") as fh:
        return {"cpus": os.cpu_count(), "loadavg": fh.read().split()[:3]}


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(field)) / 1024
    except (OSError, StopIteration):
        return 0.0


def descendants(root: int) -> dict[int, str]:
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


class Sampler:
    """Samples, every ``every`` seconds: this process's RSS, each actor's peak RSS, and ``probe()``."""

    def __init__(self, pid: int | None = None, every: float = 0.5, probe=lambda: None):
        self.pid, self.every, self.probe = pid or os.getpid(), every, probe
        self.samples: list[tuple[float, float, object]] = []  # (seconds, driver RSS MB, probe)
        self.actor_peak: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append((time.perf_counter() - self._start, rss_mb(self.pid), self.probe()))
            for pid, cmd in descendants(self.pid).items():
                if "MapWorker" in cmd:
                    self.actor_peak[pid] = max(self.actor_peak.get(pid, 0.0), rss_mb(pid))

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Marks:
    """A sink noting when the first and last results came, and counting them."""

    def __init__(self, start: float):
        self.start, self.first, self.last, self.rows = start, None, None, 0
        self.records: list = []

    def add(self, result) -> None:
        now = time.perf_counter() - self.start
        self.first = now if self.first is None else self.first
        self.last, self.rows = now, self.rows + 1
        self.records.extend(getattr(result, "explanations", ()))

    def finish(self, ending) -> None:
        pass


def shard_input(folder: Path, limit: int) -> Path:
    """The first ``limit`` sample reviews in two shard files."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = REVIEWS.read_text(encoding="utf-8").splitlines(keepends=True)[:limit]
    half = (len(lines) + 1) // 2
    (folder / "a.jsonl").write_text("".join(lines[:half]), encoding="utf-8")
    (folder / "b.jsonl").write_text("".join(lines[half:]), encoding="utf-8")
    return folder


def run_engine(spec, settings, workers: int | None, model=None) -> dict:
    """One run, local (``workers`` None) or on a private Ray with that many actors: the figures above."""
    from saliency_cli.inputs import open_reviews
    from saliency_cli.model import ModelSpec
    from saliency_cli.runners.loop import run

    start = time.perf_counter()
    marks, ready, loads = Marks(start), {}, []
    with Sampler() as sampler:
        if workers is None:
            from saliency_cli.engine import prepare
            from saliency_cli.model import load_model
            from saliency_cli.runners.local import LocalRunner

            runner = LocalRunner(prepare(load_model(model, device="cpu"), settings))
            ready["at"] = time.perf_counter() - start
        else:
            from saliency_cli.runners.ray.cluster import RayOptions
            from saliency_cli.runners.ray.driver import RayRunner

            runner = RayRunner(ModelSpec(model, "cpu"), settings, RayOptions(workers=(workers, workers)),
                               on_ready=lambda sizing: ready.setdefault("at", time.perf_counter() - start),
                               on_loads=loads.append)
        summary = run(runner, open_reviews(spec), [marks])
    wall = time.perf_counter() - start
    steady = marks.rows - 1
    return {
        "engine": "local" if workers is None else f"ray x{workers}", "rows": summary.explained,
        "start_up_s": round(ready["at"], 2), "first_row_s": round(marks.first, 2), "wall_s": round(wall, 2),
        "rows_per_s": round(marks.rows / wall, 3),
        "rows_per_s_after_first": round(steady / (marks.last - marks.first), 3) if steady > 0 else None,
        "model_loads": loads[0].model_loads if loads else 1, "actors": loads[0].actors if loads else 0,
        "actor_peak_rss_mb": sorted(round(v) for v in sampler.actor_peak.values()),
    }, marks.records


def max_diff(a: list, b: list) -> float:
    """Largest |score| difference between two runs' explanations (same reviews, same order)."""
    assert [(e.source, e.id) for e in a] == [(e.source, e.id) for e in b], "rows differ"
    return max(abs(x.score - y.score) for p, q in zip(a, b) for x, y in zip(p.tokens, q.tokens))


def throughput(args) -> list[dict]:
    """Local, then Ray with each worker count, then local again (the machine may be shared: it brackets)."""
    from saliency_cli.inputs import InputSpec
    from saliency_cli.settings import make_settings

    spec = InputSpec(path=str(shard_input(Path(tempfile.mkdtemp()) / "in", args.limit)))
    settings = make_settings(["ig"], options={"steps": args.steps}, batch_size=args.batch_size)
    rows = []
    local, reference = run_engine(spec, settings, None)
    rows.append(local)
    print(json.dumps({**local, "load": load_note()}), flush=True)
    for workers in [int(w) for w in args.workers.split(",")]:
        row, got = run_engine(spec, settings, workers)
        row["max_score_diff_vs_local"] = max_diff(reference, got)
        row["speed_vs_local"] = round(row["rows_per_s"] / local["rows_per_s"], 2)
        rows.append(row)
        print(json.dumps({**row, "load": load_note()}), flush=True)
    again, _ = run_engine(spec, settings, None)
    again["engine"] = "local (again)"
    rows.append(again)
    print(json.dumps({**again, "load": load_note()}), flush=True)
    return rows


def million_input(folder: Path, rows: int, files: int = 4) -> Path:
    """``rows`` short generated reviews in ``files`` shard files."""
    folder.mkdir(parents=True, exist_ok=True)
    words = ("great", "awful", "battery", "screen", "fast", "slow", "love", "broken", "cheap", "solid")
    per = -(-rows // files)
    for f in range(files):
        with open(folder / f"part-{f}.jsonl", "w", encoding="utf-8") as fh:
            for i in range(f * per, min(rows, (f + 1) * per)):
                text = " ".join(words[(i * k + f) % len(words)] for k in (1, 3, 7, 11))
                fh.write(json.dumps({"id": i, "text": text}) + "\n")
    return folder


class Lines:
    """Rows written so far to a growing JSONL output (``.partial`` until renamed), counted incrementally."""

    def __init__(self, out: Path):
        self.out, self.partial = out, Path(str(out) + ".partial")
        self.rows, self.offset = 0, 0

    def __call__(self) -> int:
        path = self.partial if self.partial.exists() else self.out
        try:
            with open(path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return self.rows
        self.rows += data.count(b"\n")
        self.offset += len(data)
        return self.rows


def finished(proc: subprocess.Popen, seconds: float) -> bool:
    """Wait up to ``seconds`` for the process: True once it has exited (so its wall time is not rounded
    up to the reporting period)."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def million(args) -> list[dict]:
    """Each engine as a fresh CLI process on the generated input; its RSS sampled as the output grows
    (a line every ``--report-every`` seconds, so a run stopped early still says how it went)."""
    from tests.conftest import build_tiny_model

    work = Path(tempfile.mkdtemp())
    folder = million_input(work / "in", args.million_rows)
    model = build_tiny_model("bert", work / "model")
    results = []
    for engine in ([] if args.skip_local else [None]) + [int(w) for w in args.million_workers.split(",")]:
        name = "local" if engine is None else f"ray x{engine}"
        out = work / f"out-{engine or 'local'}.jsonl"
        cmd = [sys.executable, "-m", "saliency_cli", "explain", "-i", str(folder), "-m", str(model), "--method", "grad",
               "--batch-size", "64", "-o", str(out), "-q"]
        cmd += [] if engine is None else ["--engine", "ray", "--workers", str(engine)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        with Sampler(proc.pid, every=2.0, probe=Lines(out)) as sampler:
            while not finished(proc, args.report_every):
                if sampler.samples:
                    at, rss, rows = sampler.samples[-1]
                    print(json.dumps({"engine": name, "s": round(at), "rows": rows, "driver_rss_mb": round(rss),
                                      "driver_peak_mb": round(max(r for _, r, _ in sampler.samples)),
                                      "load": load_note()["loadavg"]}), flush=True)
        wall = time.perf_counter() - start
        upto = {q: args.million_rows * q / 100 for q in (10, 25, 50, 75, 100)}
        by_rows = {f"{q}%": max((round(r) for _, r, n in sampler.samples if r and n and n <= cap), default=None)
                   for q, cap in upto.items()}
        row = {"engine": name, "rows": args.million_rows, "exit": proc.returncode, "wall_s": round(wall, 1),
               "rows_per_s": round(args.million_rows / wall, 1),
               "driver_peak_rss_mb": round(max((r for _, r, _ in sampler.samples), default=0)),
               "driver_rss_mb_up_to_rows_done": by_rows, "load": load_note()}
        results.append(row)
        print(json.dumps(row), flush=True)
        out.unlink(missing_ok=True)
    return results


def fault_run(cluster, spec, settings, model, harm) -> dict:
    """One run on the cluster; ``harm(where)`` (None: no fault) once the first block is in."""
    import ray

    from saliency_cli.inputs import open_reviews
    from saliency_cli.model import ModelSpec
    from saliency_cli.runners.loop import run
    from saliency_cli.runners.ray.cluster import RayOptions
    from saliency_cli.runners.ray.driver import RayRunner
    from saliency_cli.runners.ray.loads import COUNTER_NAME

    start, loads = time.perf_counter(), []
    marks = Marks(start)
    add = marks.add

    def add_and_harm(result) -> None:
        add(result)
        if harm is not None and marks.rows == 8:
            harm(ray.get(ray.get_actor(COUNTER_NAME).where.remote()))

    marks.add = add_and_harm
    runner = RayRunner(ModelSpec(model, "cpu"), settings,
                       RayOptions(address=cluster.address, workers=(2, 2), cpus_per_worker=0.75,
                                  first_block_rows=8, block_rows=8),
                       on_loads=loads.append)
    summary = run(runner, open_reviews(spec), [marks])
    keys = [(e.source, e.id) for e in marks.records]
    return {"rows": summary.explained, "every_row_once": len(keys) == len(set(keys)) == summary.explained,
            "complete": not summary.interrupted, "wall_s": round(time.perf_counter() - start, 1),
            "model_loads": loads[0].model_loads, "actors": loads[0].actors}, marks.records


def faults(args) -> list[dict]:
    """A clean run, a killed actor, a lost worker node, on a head and two worker nodes; then the slow tests."""
    import signal

    import ray
    from ray.cluster_utils import Cluster

    from saliency_cli.inputs import InputSpec
    from saliency_cli.runners.ray.cluster import RayOptions, init_ray
    from saliency_cli.settings import make_settings
    from tests.conftest import build_tiny_model

    work = Path(tempfile.mkdtemp())
    spec = InputSpec(path=str(shard_input(work / "in", args.fault_rows)))
    model = str(build_tiny_model("bert", work / "model"))
    settings = make_settings(["ig"], options={"steps": 16}, batch_size=4)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    init_ray(ray, RayOptions(address=cluster.address))

    def lose_node(where) -> None:
        from saliency_cli.runners.ray.loads import COUNTER_NAME

        while not {node for _, node, _ in where} & {n.node_id for n in workers}:  # the second actor may be loading
            time.sleep(0.5)
            where = ray.get(ray.get_actor(COUNTER_NAME).where.remote())
        cluster.remove_node(next(n for n in workers if n.node_id in {node for _, node, _ in where}))

    results = []
    try:
        reference = None
        for name, harm in (("no fault", None), ("actor killed (SIGKILL)", lambda w: os.kill(w[-1][2], signal.SIGKILL)),
                           ("worker node lost", lose_node)):
            row, records = fault_run(cluster, spec, settings, model, harm)
            reference = reference or records
            row = {"fault": name, **row, "max_score_diff_vs_clean": max_diff(reference, records), "load": load_note()}
            results.append(row)
            print(json.dumps(row), flush=True)
    finally:
        ray.shutdown()
        cluster.shutdown()
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "slow", "tests/runners/ray", "-p",
                            "no:cacheprovider"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    results.append({"slow_tests_exit": tests.returncode})
    print(json.dumps(results[-1]), flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", default="throughput,million,faults",
                        help="comma-separated: throughput, million, faults")
    parser.add_argument("--limit", type=int, default=48, help="reviews for the throughput part")
    parser.add_argument("--steps", type=int, default=50, help="Integrated Gradients steps (throughput)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", default="1,2", help="worker counts to try (throughput)")
    parser.add_argument("--million-rows", type=int, default=1_000_000)
    parser.add_argument("--million-workers", default="2", help="worker counts for the million-row part")
    parser.add_argument("--skip-local", action="store_true", help="million: only the Ray runs")
    parser.add_argument("--report-every", type=float, default=60.0, help="million: seconds between progress lines")
    parser.add_argument("--fault-rows", type=int, default=80, help="reviews for the faults part")
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    parts = {"throughput": throughput, "million": million, "faults": faults}
    results = {"machine": load_note()}
    for name in args.part.split(","):
        results[name] = parts[name](args)
    results["machine_after"] = load_note()
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

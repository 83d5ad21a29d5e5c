"""Side-by-side speed benchmark: saliency-cli's engine vs Captum vs transformers-interpret.

    python -m benchmarks.run --corpus long --model bert-base --methods ig --limit 20 --out results.json

One command runs every runner on the same reviews (texts cut to the model's token limit once,
up front, so nobody truncates differently). Each runner runs in a fresh worker process, so its
peak memory is that process's own RSS high-water mark (``ru_maxrss``), free of what the runners
before it allocated; the RSS right after loading the model is reported too, and the difference
is the runner's working memory. Before any speed is reported, each peer's attributions are
compared with ours review by review (max |ours - peer| over tokens / max |peer|).

Runners (method support):

* ``ours``            saliency-cli's ``explain_stream`` (all methods)
* ``captum``          Captum as documented: each batch tokenised and padded to its longest
                      member; IG = ``LayerIntegratedGradients`` on the word embeddings,
                      gradient = ``LayerGradientXActivation(multiply_by_inputs=False)``,
                      smooth-grad = ``NoiseTunnel(InputXGradient)`` on ``inputs_embeds``;
                      ``internal_batch_size`` / ``nt_samples_batch_size`` left at None
* ``captum-tuned``    the same with the best ``internal_batch_size`` (``nt_samples_batch_size``)
                      found by a timed probe on the first batch (probe time reported apart)
* ``transformers-interpret``  ``SequenceClassificationExplainer``, one text at a time (IG only)
* ``ours-before``     (opt-in) ours with this release's levers switched off (``benchmarks.before``)

FLOP fractions count useful work honestly (``benchmarks.flops``): real tokens, forward + input-gradient
backward = 2 x linear + 3 x attention products, over the best ``F.linear`` rate on the model's shapes
measured in the same run (at start and by every worker right after its work).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
METHOD_NAMES = {"ig": "integrated-gradients", "gradient": "gradient", "smooth-grad": "smooth-grad"}
RUNNERS = ("ours", "captum", "captum-tuned", "transformers-interpret", "ours-before")
SUPPORTS = {
    "ours": set(METHOD_NAMES),
    "ours-before": set(METHOD_NAMES),  # opt-in: the engine as it was (benchmarks.before), same settings
    "captum": set(METHOD_NAMES),
    "captum-tuned": {"ig", "smooth-grad"},
    "transformers-interpret": {"ig"},
}
TOLERANCE = 1e-4
SG_SAMPLES = 20
SG_NOISE = 0.1
IG_STEPS = 50
PROBE_STEPS = 10
PROBE_CHUNKS = (2, 5, 10)  # steps (or samples) per internal batch tried by captum-tuned


# --------------------------------------------------------------------------- measurements


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def load_average() -> float:
    return os.getloadavg()[0]


def passes_per_item(method: str, steps: int = IG_STEPS) -> int:
    """Forward + backward passes per review and target that are useful work (the prediction and
    IG's baseline forward are overhead)."""
    return {"ig": steps, "gradient": 1, "smooth-grad": SG_SAMPLES}[method]


# --------------------------------------------------------------------------- inputs


def fit_texts(lm: Any, texts: list[str]) -> list[str]:
    """Cut each text after its last token that fits the model (so no runner has to truncate)."""
    tok = lm.tokenizer
    enc = tok(texts, truncation=True, max_length=lm.max_length, return_offsets_mapping=True,
              return_special_tokens_mask=True, return_overflowing_tokens=False)
    out = []
    for i, text in enumerate(texts):
        if len(enc["input_ids"][i]) < lm.max_length:
            out.append(text)
            continue
        ends = [e for (s, e), sp in zip(enc["offset_mapping"][i], enc["special_tokens_mask"][i]) if not sp and e > s]
        # Leave two tokens of slack: a cut can re-tokenise a word into one more piece.
        cut = text[: ends[-3]] if len(ends) > 3 else text
        while len(tok(cut)["input_ids"]) > lm.max_length:
            cut = cut[: max(1, len(cut) - 20)]
        out.append(cut)
    return out


def token_ids(lm: Any, texts: list[str]) -> list[list[int]]:
    return [list(x) for x in lm.tokenizer(texts)["input_ids"]]


# --------------------------------------------------------------------------- runners (worker side)


def _batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def run_ours(lm, texts, method, batch_size, sg_noise=SG_NOISE, sg_samples=SG_SAMPLES, steps=IG_STEPS,
             dtype="float32"):
    from saliency_cli.runners.local import explain_stream
    from saliency_cli.records import Review
    from saliency_cli.settings import make_settings

    params = {"samples": sg_samples, "noise": sg_noise} if method == "smooth-grad" else None
    if method == "ig":
        params = {"steps": steps}
    settings = make_settings([METHOD_NAMES[method]], options=params, batch_size=batch_size, dtype=dtype)
    reviews = [Review(id=str(i), text=t, row=i + 1) for i, t in enumerate(texts)]
    out = []
    for res in explain_stream(lm, reviews, settings):
        if not hasattr(res, "explanations"):
            raise RuntimeError(f"row {res.row}: {res.error}")
        out.append([t.score for t in res.explanations[0].tokens])
    return out, {}


class _Captum:
    """What the Captum docs do for a BERT classifier, batch by batch."""

    def __init__(self, lm):
        import torch

        self.torch = torch
        self.lm = lm
        self.model = lm.model
        self.tok = lm.tokenizer
        self.pad = self.tok.pad_token_id

    def encode(self, texts):
        enc = self.tok(texts, padding=True, return_tensors="pt", return_special_tokens_mask=True)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        tt = enc.get("token_type_ids")
        special = enc["special_tokens_mask"].bool()
        ref = self.torch.where(special | (mask == 0), ids, self.torch.full_like(ids, self.pad))
        return ids, mask, tt, ref

    def forward_ids(self, ids, mask, tt=None):
        logits = self.model(input_ids=ids, attention_mask=mask, token_type_ids=tt).logits
        return self.torch.softmax(logits, dim=-1)

    def forward_embeds(self, emb, mask, tt=None):
        logits = self.model(inputs_embeds=emb, attention_mask=mask, token_type_ids=tt).logits
        return self.torch.softmax(logits, dim=-1)

    def predict(self, ids, mask, tt):
        with self.torch.no_grad():
            return self.forward_ids(ids, mask, tt).argmax(-1)

    @staticmethod
    def unpad(attr, mask):
        return [attr[i, : int(mask[i].sum())].tolist() for i in range(attr.shape[0])]

    def ig(self, texts, internal, n_steps=IG_STEPS):
        from captum.attr import LayerIntegratedGradients

        ids, mask, tt, ref = self.encode(texts)
        target = self.predict(ids, mask, tt)
        lig = LayerIntegratedGradients(self.forward_ids, self.model.get_input_embeddings())
        ibs = None if internal is None else internal * len(texts)
        attr = lig.attribute(ids, baselines=ref, target=target, additional_forward_args=(mask, tt),
                             n_steps=n_steps, method="gausslegendre", internal_batch_size=ibs)
        return self.unpad(attr.sum(-1).detach(), mask)

    def gradient(self, texts):
        from captum.attr import LayerGradientXActivation

        ids, mask, tt, _ = self.encode(texts)
        target = self.predict(ids, mask, tt)
        lga = LayerGradientXActivation(self.forward_ids, self.model.get_input_embeddings(), multiply_by_inputs=False)
        grad = lga.attribute(ids, target=target, additional_forward_args=(mask, tt))
        return self.unpad(self.torch.linalg.vector_norm(grad.detach(), dim=-1), mask)

    def input_x_gradient(self, texts):
        """Gradient x input on the embeddings: what our smooth-grad gives at noise 0."""
        from captum.attr import InputXGradient

        ids, mask, tt, _ = self.encode(texts)
        target = self.predict(ids, mask, tt)
        emb = self.model.get_input_embeddings()(ids).detach()
        attr = InputXGradient(self.forward_embeds).attribute(emb, target=target, additional_forward_args=(mask, tt))
        return self.unpad(attr.sum(-1).detach(), mask)

    def smooth_grad(self, texts, internal, samples=SG_SAMPLES, noise=SG_NOISE):
        from captum.attr import InputXGradient, NoiseTunnel

        ids, mask, tt, _ = self.encode(texts)
        target = self.predict(ids, mask, tt)
        emb = self.model.get_input_embeddings()(ids).detach()
        # One stdev per call (Captum takes one per input tensor): the mean of the reviews' own ranges.
        ranges = [float(emb[i, : int(mask[i].sum())].max() - emb[i, : int(mask[i].sum())].min())
                  for i in range(len(texts))]
        nt = NoiseTunnel(InputXGradient(self.forward_embeds))
        attr = nt.attribute(emb, nt_type="smoothgrad", nt_samples=samples, nt_samples_batch_size=internal,
                            stdevs=noise * sum(ranges) / len(ranges), target=target,
                            additional_forward_args=(mask, tt))
        return self.unpad(attr.sum(-1).detach(), mask)


def _probe(fn, first, candidates):
    """Seconds per candidate chunk size on the first batch; returns (best, timings)."""
    timings = {}
    for c in candidates:
        start = time.perf_counter()
        fn(first, c)
        timings[str(c)] = time.perf_counter() - start
    best = min(candidates, key=lambda c: timings[str(c)])
    return best, timings


def run_captum(lm, texts, method, batch_size, tuned=False, steps=IG_STEPS):
    cap = _Captum(lm)
    extra: dict[str, Any] = {}
    internal = None
    if tuned:
        first = texts[:batch_size]
        start = time.perf_counter()
        if method == "ig":
            fn = lambda b, c: cap.ig(b, c, n_steps=PROBE_STEPS)  # noqa: E731
        else:
            fn = lambda b, c: cap.smooth_grad(b, c, samples=PROBE_STEPS)  # noqa: E731
        internal, timings = _probe(fn, first, PROBE_CHUNKS)
        extra["probe_seconds"] = time.perf_counter() - start
        extra["probe_timings"] = timings
        extra["probe_steps"] = PROBE_STEPS
    label = "internal_batch_size" if method == "ig" else "nt_samples_batch_size"
    extra[label] = None if internal is None else (internal * batch_size if method == "ig" else internal)
    extra["chunk_steps"] = internal
    out = []
    start, cpu0 = time.perf_counter(), time.process_time()
    for batch in _batches(texts, batch_size):
        if method == "ig":
            out.extend(cap.ig(batch, internal, n_steps=steps))
        elif method == "gradient":
            out.extend(cap.gradient(batch))
        elif method == "smooth-grad":
            out.extend(cap.smooth_grad(batch, internal))
        elif method == "gxi":
            out.extend(cap.input_x_gradient(batch))
    extra["run_seconds"] = time.perf_counter() - start
    extra["run_cpu_seconds"] = time.process_time() - cpu0
    return out, extra


def run_transformers_interpret(lm, texts, method, batch_size, steps=IG_STEPS):
    from transformers_interpret import SequenceClassificationExplainer

    explainer = SequenceClassificationExplainer(lm.model, lm.tokenizer)
    out, ids = [], []
    for text in texts:
        explainer(text, n_steps=steps)  # gausslegendre, internal_batch_size=None: its defaults
        out.append(explainer.attributions._attributions.sum(-1)[0].detach().tolist())
        ids.append(explainer.input_ids[0].tolist())
    return out, {"n_steps": explainer.n_steps, "internal_batch_size": explainer.internal_batch_size,
                 "token_ids": ids}


def worker(job_path: str, result_path: str) -> None:
    """Run one runner on the job's texts in this fresh process and write timings and attributions."""
    import torch

    job = json.loads(Path(job_path).read_text())
    if job.get("mem_cap_gb"):
        cap = int(job["mem_cap_gb"] * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    from benchmarks import flops
    from benchmarks.models import load

    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    lm = load(job["source"])
    runner, method, texts, bs = job["runner"], job["method"], job["texts"], job["batch_size"]
    kwargs = dict(job.get("kwargs") or {})

    steps = int(job.get("steps") or IG_STEPS)

    def call(items):
        if runner in ("ours", "ours-before"):
            if runner == "ours-before":
                from benchmarks.before import as_before

                with as_before(lm) as old:
                    return run_ours(old, items, method, bs, steps=steps, dtype=job.get("dtype") or "float32", **kwargs)
            return run_ours(lm, items, method, bs, steps=steps, dtype=job.get("dtype") or "float32", **kwargs)
        if runner in ("captum", "captum-tuned"):
            return run_captum(lm, items, method, bs, tuned=runner == "captum-tuned", steps=steps)
        if runner == "transformers-interpret":
            return run_transformers_interpret(lm, items, method, bs, steps=steps)
        raise ValueError(runner)

    result: dict[str, Any] = {"runner": runner, "method": method, "threads": torch.get_num_threads()}
    try:
        if job.get("warmup"):
            # Untimed warm-up on the shortest text (first-call allocations, lazy imports).
            shortest = min(texts, key=len)
            if runner == "captum-tuned":
                run_captum(lm, [shortest], method, 1, tuned=False)
            else:
                call([shortest])
        result["rss_after_load_mb"] = rss_mb()
        result["load_avg_start"] = load_average()
        start, cpu0 = time.perf_counter(), time.process_time()
        attributions, extra = call(texts)
        result["seconds"] = time.perf_counter() - start
        result["cpu_seconds"] = time.process_time() - cpu0
        if "probe_seconds" in extra:  # the tuning probe is reported apart, not timed as work
            result["seconds"], result["cpu_seconds"] = extra["run_seconds"], extra["run_cpu_seconds"]
        cpu_share = result["cpu_seconds"] / result["seconds"] / max(1, torch.get_num_threads())
        result["load_avg_end"] = load_average()
        result["cpu_share"] = cpu_share
        # The ceiling again, right after the work, in this process and under the load it met.
        probe = float(job.get("probe_seconds", 1.5))
        result["ceiling_after"] = flops.matmul_ceiling(lm.model.config, seconds=probe)["best"]
        result["ceiling_after_cpu"] = flops.matmul_ceiling(lm.model.config, seconds=probe, clock=time.process_time)["best"]
        result["attributions"] = attributions
        result.update(extra)
        result["ok"] = True
    except (RuntimeError, MemoryError) as exc:
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        result.update(ok=False, error=msg[:300])
    result["peak_rss_mb"] = peak_rss_mb()
    Path(result_path).write_text(json.dumps(result))


# --------------------------------------------------------------------------- orchestration


def spawn(job: dict, tmp: Path, name: str, timeout: float | None) -> dict:
    job_path, res_path = tmp / f"{name}.job.json", tmp / f"{name}.result.json"
    job_path.write_text(json.dumps(job))
    cmd = [sys.executable, "-m", "benchmarks.run", "--worker", str(job_path), str(res_path)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    if not res_path.is_file():
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        return {"ok": False, "error": f"worker exited with {proc.returncode}: {' | '.join(tail)}"}
    return json.loads(res_path.read_text())


def agreement(ours: list[list[float]], peer: list[list[float]], ids_ours=None, ids_peer=None) -> dict:
    """Per review: max |ours - peer| / max |peer| over tokens; reviews whose tokens differ are skipped."""
    errors, skipped = [], 0
    for i, (a, b) in enumerate(zip(ours, peer)):
        if len(a) != len(b) or (ids_ours is not None and ids_peer is not None and ids_ours[i] != ids_peer[i]):
            skipped += 1
            continue
        scale = max(abs(x) for x in b) or 1.0
        errors.append(max(abs(x - y) for x, y in zip(a, b)) / scale)
    worst = max(errors) if errors else None
    return {"max_rel_error": worst, "compared": len(errors), "skipped_token_mismatch": skipped,
            "passed": worst is not None and worst <= TOLERANCE}


def fmt(x, digits=2):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}" if abs(x) >= 10 ** -digits else f"{x:.1e}"
    return str(x)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="saliency-cli vs Captum vs transformers-interpret, side by side")
    ap.add_argument("--corpus", choices=("long", "short"), default="long")
    ap.add_argument("--corpus-file", help="JSONL corpus to use instead of the sample_data file")
    ap.add_argument("--source", help="VADER amazonReviewSnippets_GroundTruth.txt, when the corpus file is missing")
    ap.add_argument("--model", choices=("bert-base", "default", "tiny"), default="bert-base")
    ap.add_argument("--methods", default="ig", help="comma list of ig, gradient, smooth-grad")
    ap.add_argument("--runners", default=",".join(r for r in RUNNERS if r != "ours-before"),
                    help="comma list of " + ", ".join(RUNNERS) + " (ours-before: opt-in, benchmarks.before)")
    ap.add_argument("--limit", type=int, default=20, help="use the first N reviews")
    ap.add_argument("--batch-size", type=int, default=8, help="reviews per batch (ours and Captum)")
    ap.add_argument("--steps", type=int, default=IG_STEPS, help="IG steps (every runner)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads per worker (0 = torch's default)")
    ap.add_argument("--dtype", default="float32", help="ours: float32 | bfloat16 | auto (peers run float32)")
    ap.add_argument("--mem-cap-gb", type=float, default=16.0, help="address-space cap per worker (0 = none)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per worker")
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--probe-seconds", type=float, default=3.0,
                    help="how long the fp32 matmul ceiling is probed at start (bf16: 2/3 of it; each worker "
                         "after its work: half of it)")
    ap.add_argument("--workdir", help="where the model folders are built (default: a temporary folder)")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--worker", nargs=2, metavar=("JOB", "RESULT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return {}

    import torch

    from benchmarks import corpus, flops, models

    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    for m in methods:
        if m not in METHOD_NAMES:
            ap.error(f"unknown method {m!r}; choose from {', '.join(METHOD_NAMES)}")
    for r in runners:
        if r not in RUNNERS:
            ap.error(f"unknown runner {r!r}; choose from {', '.join(RUNNERS)}")
    if "ours" not in runners:
        runners.insert(0, "ours")

    reviews = corpus.load_corpus(args.corpus, args.limit, path=args.corpus_file, source=args.source)
    tmp = Path(tempfile.mkdtemp(prefix="saliency-bench-"))
    workdir = Path(args.workdir) if args.workdir else tmp
    try:
        source = models.prepare(args.model, workdir)
        lm = models.load(source)
    except models.ModelUnavailable as exc:
        print(f"model {args.model!r} is not available here, skipped: {exc}")
        return {"skipped": str(exc)}
    texts = fit_texts(lm, [r.text for r in reviews])
    ids = token_ids(lm, texts)
    lengths = [len(x) for x in ids]
    total_params, params_ne = models.param_counts(lm.model)
    config = lm.model.config
    pass_work = flops.pass_flops(lengths, config, backward=True)  # the work a pass needs
    pass_work_full = flops.pass_flops(lengths, config, backward=True, needed=False)  # every position's last layer
    print(f"measuring the matmul ceiling on the model's shapes ... (load {load_average():.2f})", flush=True)
    ceiling = flops.matmul_ceiling(config, seconds=args.probe_seconds)
    gflops = ceiling["best"]
    bf16 = flops.matmul_ceiling(config, "bfloat16", seconds=args.probe_seconds * 2 / 3)["best"]
    del lm

    report: dict[str, Any] = {
        "corpus": args.corpus,
        "corpus_origin": reviews[0].source if reviews else None,
        "model": args.model,
        "model_shape": {"layers": config.num_hidden_layers, "hidden": config.hidden_size,
                        "heads": config.num_attention_heads, "params": total_params,
                        "params_non_embedding": params_ne},
        "reviews": len(texts),
        "real_tokens": sum(lengths),
        "mean_tokens": sum(lengths) / max(1, len(lengths)),
        "max_tokens": max(lengths, default=0),
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "matmul_gflops_fp32": gflops,
        "matmul_gflops_fp32_shapes": ceiling,
        "matmul_gflops_bf16": bf16,
        "dtype": args.dtype,
        "ig_steps": args.steps,
        "tolerance": TOLERANCE,
        "torch": torch.__version__,
        "results": [],
    }
    print(f"{len(texts)} reviews, {sum(lengths)} real tokens (mean {report['mean_tokens']:.0f}, "
          f"max {report['max_tokens']}); matmul {gflops:.0f} GFLOP/s fp32, {bf16:.0f} bf16", flush=True)

    for method in methods:
        base_job = {"source": source, "method": method, "texts": texts, "batch_size": args.batch_size,
                    "mem_cap_gb": args.mem_cap_gb, "warmup": not args.no_warmup, "steps": args.steps,
                    "dtype": args.dtype, "threads": args.threads, "probe_seconds": args.probe_seconds / 2}
        useful = pass_work * passes_per_item(method, args.steps)
        useful_full = pass_work_full * passes_per_item(method, args.steps)
        rows: dict[str, dict] = {}
        for runner in runners:
            if method not in SUPPORTS[runner]:
                continue
            print(f"[{method}] {runner} ... (load {load_average():.2f})", flush=True)
            res = spawn({**base_job, "runner": runner}, tmp, f"{method}-{runner}", args.timeout)
            rows[runner] = res
        checks: dict[str, dict] = {}
        ours = rows.get("ours", {})
        if method == "smooth-grad":
            # Noise differs between libraries, so check agreement at noise 0 (= gradient x input).
            n = min(len(texts), args.batch_size)
            a = spawn({**base_job, "texts": texts[:n], "runner": "ours", "warmup": False,
                       "kwargs": {"sg_noise": 0.0, "sg_samples": 2}}, tmp, "sg0-ours", args.timeout)
            b = spawn({**base_job, "texts": texts[:n], "runner": "captum", "method": "gxi", "warmup": False},
                      tmp, "sg0-captum", args.timeout)
            if a.get("ok") and b.get("ok"):
                checks["captum (noise 0 vs InputXGradient)"] = agreement(a["attributions"], b["attributions"])
        elif ours.get("ok"):
            for runner, res in rows.items():
                if runner != "ours" and res.get("ok"):
                    checks[runner] = agreement(ours["attributions"], res["attributions"], ids, res.get("token_ids"))
        for runner, res in rows.items():
            row = {k: v for k, v in res.items() if k not in ("attributions", "token_ids")}
            row["runner"], row["method"] = runner, method
            if res.get("ok"):
                secs = res["seconds"]
                row["reviews_per_s"] = len(texts) / secs
                row["tokens_per_s"] = sum(lengths) / secs
                row["useful_gflop"] = useful / 1e9
                # against the best fp32 ceiling of the run (start, or after any runner)
                best = max([gflops] + [r.get("ceiling_after", 0.0) for r in rows.values()])
                row["flop_fraction"] = useful / secs / (best * 1e9)
                row["flop_fraction_full_model"] = useful_full / secs / (best * 1e9)
                row["flop_fraction_local"] = useful / secs / (res["ceiling_after"] * 1e9)
                # CPU seconds against a CPU-time ceiling: with --threads 1, the share of the core's busy
                # time that was useful matmul work, whatever other jobs took
                row["flop_fraction_cpu"] = useful / res["cpu_seconds"] / (res["ceiling_after_cpu"] * 1e9)
                row["working_mb"] = res["peak_rss_mb"] - res["rss_after_load_mb"]
            if runner != "ours":
                key = "captum (noise 0 vs InputXGradient)" if method == "smooth-grad" else runner
                row["agreement"] = checks.get(key)
                if res.get("ok") and ours.get("ok"):
                    row["ours_speedup"] = res["seconds"] / ours["seconds"]
                    # by CPU seconds: steadier than wall time when other jobs share the cores (--threads 1)
                    row["ours_speedup_cpu"] = res["cpu_seconds"] / ours["cpu_seconds"]
            report["results"].append(row)

    print_table(report)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")
    return report


def print_table(report: dict) -> None:
    head = ("method", "runner", "rev/s", "tok/s", "peak MB", "work MB", "FLOP %", "FLOP % own", "FLOP % cpu", "ours x",
            "ours x cpu", "max rel err", "load", "cpu")
    lines = [head]
    for r in report["results"]:
        agree = r.get("agreement") or {}
        err = agree.get("max_rel_error")
        err_s = "-" if r["runner"] == "ours" else (f"{err:.1e}{'' if agree.get('passed') else ' FAIL'}"
                                                  if err is not None else "n/a")
        if not r.get("ok"):
            lines.append((r["method"], r["runner"], "failed: " + r.get("error", "?")[:60], *[""] * (len(head) - 3)))
            continue
        lines.append((
            r["method"], r["runner"], fmt(r["reviews_per_s"], 3), fmt(r["tokens_per_s"], 1), fmt(r["peak_rss_mb"], 0),
            fmt(r["working_mb"], 0), fmt(100 * r["flop_fraction"], 1), fmt(100 * r["flop_fraction_local"], 1),
            fmt(100 * r["flop_fraction_cpu"], 1),
            fmt(r.get("ours_speedup"), 2), fmt(r.get("ours_speedup_cpu"), 2), err_s, f"{r['load_avg_start']:.1f}", fmt(r.get("cpu_share"), 2),
        ))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    print(f"\n{report['model']} on {report['reviews']} {report['corpus']} reviews "
          f"({report['real_tokens']} tokens), batch {report['batch_size']}, {report['threads']} threads, "
          f"matmul ceiling {report['matmul_gflops_fp32']:.0f} GFLOP/s fp32 (model's linear shapes); "
          f"FLOP % = needed forward + input-gradient backward on real tokens / time / best ceiling of the run")
    for line in lines:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)))


if __name__ == "__main__":
    main()

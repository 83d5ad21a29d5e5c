"""The GPU benchmark: ours against Captum (tuned) on one CUDA device, in one command, in under 8 minutes.

    python -m benchmarks.gpu --out gpu.json          # on a machine with a CUDA device
    python -m benchmarks.gpu --smoke                 # the same code path on the CPU, tiny model, 2 reviews: seconds

For the embedded model and a BERT-base-shaped model (``benchmarks.models``), on the 300-review sample
(``sample_data/amazon_reviews_full.jsonl``, texts cut once to the model's 512-token limit), each method
runs through ``saliency_cli.runners.local.explain_reviews`` on the device, then Captum does the same work:

* ``ig`` / ``ig-bf16``: Integrated Gradients (50 Gauss-Legendre steps, [PAD] baseline) in float32 and in
  bfloat16 (``--dtype bfloat16``); Captum: ``LayerIntegratedGradients`` as ``benchmarks.run`` runs it,
  tuned (``internal_batch_size`` chosen by a timed probe on the first batch, probe time not counted), in
  float32, run once for both rows (the bf16 ratio is ours in bf16 against Captum in float32);
* ``gxi``: gradient x input; Captum ``InputXGradient`` on the embeddings;
* ``occlusion``: words replaced by the mask token, one forward per word; Captum ``FeatureAblation`` as
  ``benchmarks.perturbation`` runs it, ``perturbations_per_eval`` tuned by a probe;
* ``kernel-shap``: 128 coalitions per review; Captum ``KernelShap`` with ``n_samples`` 128, same probe.

Measured per run: **reviews/s** (wall time after an untimed warm-up, ``torch.cuda.synchronize`` before
each clock read), **peak memory** (``torch.cuda.max_memory_allocated`` over the run; the process's RSS
high-water mark on the CPU), and **FLOP %**: useful FLOPs / time / the device's matmul rate. Useful
FLOPs count real tokens only, never padding (``benchmarks.flops``): forward = the linear layers plus the
attention products, the last layer for [CLS] only; with frozen parameters a backward pass costs one
more matmul per linear layer (one forward's worth, not two) and two per attention product. Passes that
count: IG's steps and gradient x input's one forward + backward; occlusion's copies (the review, and
one per word) and KernelSHAP's distinct coalitions (forward only). The prediction and baseline
passes, padding and the tokenizer are overhead. The **ceiling** is the best rate of
``torch.nn.functional.linear`` on the model's own shapes (4096 tokens x hidden x hidden, x hidden x
FFN, x FFN x hidden) on the device, in the run's dtype, measured in the same process right before the
model's runs (float32 matmuls as torch runs them by default: no TF32 unless enabled). **Captum x** =
Captum's time / ours on the same reviews (above 1: we are faster).

``--time-budget`` (default 450 s) keeps the whole run under 8 minutes with the model loads: a run that
would start after it is reported as skipped. ``--smoke`` runs everything on the CPU with the test
suite's tiny BERT, 2 short reviews and small settings, to check the code path without a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

METHODS = ("ig", "ig-bf16", "gxi", "occlusion", "kernel-shap")
ENGINE_NAMES = {"ig": "integrated-gradients", "ig-bf16": "integrated-gradients", "gxi": "gradient-x-input",
                "occlusion": "occlusion", "kernel-shap": "kernel-shap"}
PPE_CHOICES = (16, 64, 128)  # Captum perturbations_per_eval probed on the device
IG_CHUNKS = (5, 10, 25, 50)  # Captum IG steps per internal batch probed on the device
SMOKE_TEXTS = [
    "Great phone, terrible battery. I would not recommend it.",
    "The screen is bright and the sound is excellent.",
    "Awful customer service; they never answered my emails.",
]


class Clock:
    """Wall seconds with the device synchronised at both ends (CUDA runs asynchronously)."""

    def __init__(self, device: Any):
        import torch

        self.sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def __enter__(self) -> "Clock":
        self.sync()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.sync()
        self.seconds = time.perf_counter() - self.start


class PeakMemory:
    """Peak memory of the block: device memory allocated by torch on CUDA, else the RSS high-water mark."""

    def __init__(self, device: Any):
        self.device = device

    def __enter__(self) -> "PeakMemory":
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.mb = torch.cuda.max_memory_allocated(self.device) / 2**20
            self.kind = "device"
        else:
            self.mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            self.kind = "rss high-water mark"


def device_ceiling(config: Any, device: Any, dtype: str, seconds: float = 2.0) -> dict[str, float]:
    """Best GFLOP/s of ``F.linear`` on the model's linear shapes (``flops.linear_shapes``) on the device."""
    import torch
    import torch.nn.functional as F

    from benchmarks.flops import linear_shapes

    dt = getattr(torch, dtype)
    clock = Clock(device)
    rates: dict[str, float] = {}
    shapes = linear_shapes(config)
    for m, k, n in shapes:
        x = torch.randn(m, k, dtype=dt, device=device)
        w = torch.randn(n, k, dtype=dt, device=device)
        for _ in range(3):
            F.linear(x, w)
        count, per = 0, 1
        with clock:
            pass
        elapsed = 0.0
        while elapsed < seconds / len(shapes):
            with clock:
                for _ in range(per):
                    F.linear(x, w)
            count += per
            elapsed += clock.seconds
            per = min(per * 2, 64)
        rates[f"{m}x{k}x{n}"] = 2 * m * k * n * count / elapsed / 1e9
    rates["best"] = max(rates.values())
    return rates


# --------------------------------------------------------------------------- Captum on the device


@contextlib.contextmanager
def captum_on(device: Any) -> Iterator[None]:
    """The Captum runners of ``benchmarks.run`` and ``benchmarks.perturbation`` with their tensors on
    ``device`` (they build them on the CPU) and the probe choices of a GPU."""
    from benchmarks import perturbation, run

    class DeviceCaptum(run._Captum):
        def encode(self, texts):
            return tuple(t.to(device) if t is not None else None for t in super().encode(texts))

    class DeviceForward(perturbation.CaptumForward):
        def __init__(self, lm: Any, item: Any):
            super().__init__(lm, item)
            for name in ("template", "types", "content", "inputs", "feature_mask"):
                value = getattr(self, name)
                if value is not None:
                    setattr(self, name, value.to(device))

        def per_feature(self, attr):
            return super().per_feature(attr.detach().cpu())

    saved = run._Captum, perturbation.CaptumForward, run.PROBE_CHUNKS
    run._Captum, perturbation.CaptumForward = DeviceCaptum, DeviceForward
    if device.type == "cuda":
        run.PROBE_CHUNKS = IG_CHUNKS
    try:
        yield
    finally:
        run._Captum, perturbation.CaptumForward, run.PROBE_CHUNKS = saved


def perturbation_items(lm: Any, reviews: list) -> list:
    """``benchmarks.perturbation.Item`` of each review, its target our model's prediction on the device."""
    import torch

    from benchmarks.perturbation import Item
    from saliency_cli.engine.encoding import encode, features

    items = []
    for review, enc in zip(reviews, encode(lm, reviews)):
        enc = enc[0]
        ids = torch.tensor([enc.input_ids], device=lm.device)
        kwargs = {"attention_mask": torch.ones_like(ids)}
        if enc.token_type_ids is not None:
            kwargs["token_type_ids"] = torch.tensor([enc.token_type_ids], device=lm.device)
        with torch.inference_mode():
            target = int(lm.model(input_ids=ids, **kwargs).logits[0].argmax())
        content = [p for p, sp in enumerate(enc.special) if not sp]
        items.append(Item(review, enc, features(enc, "word"), content, target))
    return items


def captum_run(lm: Any, method: str, texts: list[str], reviews: list, batch_size: int, steps: int,
               samples: int, probe: list) -> tuple[Callable[[], Any], dict]:
    """A function running Captum's version of ``method`` on every review, and what was tuned. Here,
    untimed: a warm-up on the ``probe`` reviews and, for perturbation methods, the probe of
    ``perturbations_per_eval`` on them (IG's probe of ``internal_batch_size`` runs inside the function,
    as ``benchmarks.run`` does it, and its time is reported apart)."""
    from benchmarks import perturbation, run

    info: dict[str, Any] = {}
    probe_texts = [r.text for r in probe]
    if method in ("ig", "ig-bf16"):
        run.run_captum(lm, probe_texts, "ig", batch_size, tuned=False, steps=min(steps, 4))

        def work() -> Any:
            out, extra = run.run_captum(lm, texts, "ig", batch_size, tuned=True, steps=steps)
            info.update({k: v for k, v in extra.items() if k in ("internal_batch_size", "chunk_steps",
                                                                 "probe_seconds", "probe_timings")})
            info["timed_seconds"] = extra["run_seconds"]  # the probe is not counted
            return out
        return work, info
    if method == "gxi":
        run.run_captum(lm, probe_texts, "gxi", batch_size)
        return (lambda: run.run_captum(lm, texts, "gxi", batch_size)[0]), info
    kind = "fa" if method == "occlusion" else "ks"
    items = perturbation_items(lm, reviews)
    probe_items = perturbation_items(lm, probe)
    perturbation.run_captum(lm, probe_items, kind, PPE_CHOICES[0], samples)  # warm-up
    timings = {}
    for ppe in PPE_CHOICES:
        start = time.perf_counter()
        perturbation.run_captum(lm, probe_items, kind, ppe, samples)
        timings[str(ppe)] = time.perf_counter() - start
    best = min(PPE_CHOICES, key=lambda p: timings[str(p)])
    info.update(perturbations_per_eval=best, probe_timings=timings)
    return (lambda: perturbation.run_captum(lm, items, kind, best, samples)), info


# --------------------------------------------------------------------------- useful work


def useful_flops(lm: Any, method: str, reviews: list, steps: int, samples: int) -> float:
    """Useful FLOPs of ``method`` on ``reviews`` (real tokens; see the module docstring)."""
    from benchmarks.flops import pass_flops
    from saliency_cli.engine.encoding import encode, features

    config = lm.model.config
    encs = [e[0] for e in encode(lm, reviews)]
    lengths = [e.length for e in encs]
    if method in ("ig", "ig-bf16"):
        return steps * pass_flops(lengths, config, backward=True)
    if method == "gxi":
        return pass_flops(lengths, config, backward=True)
    total = 0.0
    for enc, length in zip(encs, lengths):
        words = len(features(enc, "word"))
        if method == "occlusion":
            copies = words + 1
        else:  # kernel-shap's distinct coalitions (every one when they fit in samples)
            copies = 2**words if samples >= 2**words else samples - samples % 2
        total += copies * pass_flops([length], config, backward=False)
    return total


# --------------------------------------------------------------------------- the run


def run_model(name: str, source: str | None, args: Any, deadline: float, log) -> dict:
    import torch

    from benchmarks import corpus, run
    from saliency_cli import load_model
    from saliency_cli.runners.local import explain_reviews
    from saliency_cli.records import Review
    from saliency_cli.settings import make_settings

    start = time.perf_counter()
    lm = load_model(source, device=args.device)  # parameters frozen, as the FLOP count assumes
    device = lm.device
    if args.smoke:
        raw = SMOKE_TEXTS[: args.limit]
    else:
        raw = [r.text for r in corpus.load_corpus("long", args.limit, path=args.corpus_file)]
    texts = run.fit_texts(lm, raw)
    reviews = [Review(id=str(i), text=t, row=i + 1) for i, t in enumerate(texts)]
    lengths = [len(x) for x in run.token_ids(lm, texts)]
    config = lm.model.config
    report: dict[str, Any] = {
        "model": name, "source": source or "embedded default", "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "layers": config.num_hidden_layers, "hidden": config.hidden_size, "reviews": len(texts),
        "real_tokens": sum(lengths), "mean_tokens": sum(lengths) / max(1, len(lengths)), "max_tokens": max(lengths),
        "load_seconds": time.perf_counter() - start, "runs": [],
    }
    ceilings: dict[str, dict] = {}
    for dtype in ("float32", "bfloat16"):
        if dtype == "bfloat16" and device.type == "cpu" and not lm.fast_bf16 and not args.smoke:
            continue
        ceilings[dtype] = device_ceiling(config, device, dtype, seconds=0.3 if args.smoke else 2.0)
    report["ceiling_gflops"] = {k: v["best"] for k, v in ceilings.items()}
    report["ceiling_shapes"] = ceilings
    log(f"{name} on {report['device_name']}: {len(texts)} reviews, {sum(lengths)} tokens (mean "
        f"{report['mean_tokens']:.0f}, max {max(lengths)}); matmul ceiling "
        + ", ".join(f"{k} {v['best']:.0f} GFLOP/s" for k, v in ceilings.items()))
    warm = reviews[: min(2, len(reviews))]
    runs: dict[str, dict] = {}
    for method in args.methods:
        row: dict[str, Any] = {"method": method}
        report["runs"].append(row)
        runs[method] = row
        if time.perf_counter() > deadline:
            row["skipped"] = "time budget"
            log(f"  {method}: skipped (time budget)")
            continue
        dtype = "bfloat16" if method == "ig-bf16" else "float32"
        if dtype not in ceilings:
            row["skipped"] = "no bfloat16 on this device"
            continue
        options: dict[str, Any] = {}
        if method in ("ig", "ig-bf16"):
            options["steps"] = args.steps
        elif method == "kernel-shap":
            options.update(samples=args.samples, seed=0)
        settings = make_settings([ENGINE_NAMES[method]], options=options, dtype=dtype, batch_size=args.batch_size)
        explain_reviews(lm, warm, settings)  # warm-up: kernels, allocator, the KernelSHAP design
        with PeakMemory(device) as mem, Clock(device) as clock:
            explain_reviews(lm, reviews, settings)
        work = useful_flops(lm, method, reviews, args.steps, args.samples)
        row.update(dtype=dtype, seconds=clock.seconds, reviews_per_s=len(reviews) / clock.seconds,
                   peak_mb=mem.mb, memory=mem.kind, useful_gflop=work / 1e9,
                   flop_fraction=work / clock.seconds / (ceilings[dtype]["best"] * 1e9))
        if args.captum and method == "ig-bf16" and "captum" in runs.get("ig", {}):
            row["captum"] = dict(runs["ig"]["captum"], same_as="ig (Captum runs in float32)")
            row["captum_x"] = row["captum"]["seconds"] / clock.seconds
        elif args.captum and time.perf_counter() < deadline:
            with captum_on(device):
                work_fn, info = captum_run(lm, method, texts, reviews, args.batch_size, args.steps, args.samples,
                                           reviews[: min(len(reviews), args.probe)])
                with PeakMemory(device) as cmem, Clock(device) as cclock:
                    work_fn()
            seconds = info.pop("timed_seconds", cclock.seconds)
            row["captum"] = {"seconds": seconds, "reviews_per_s": len(reviews) / seconds, "peak_mb": cmem.mb,
                             "flop_fraction": work / seconds / (ceilings["float32"]["best"] * 1e9), **info}
            row["captum_x"] = seconds / clock.seconds
        log(f"  {method} ({dtype}): {row['reviews_per_s']:.2f} reviews/s, peak {row['peak_mb']:.0f} MB, "
            f"FLOP {100 * row['flop_fraction']:.1f} %"
            + (f"; Captum tuned {row['captum']['reviews_per_s']:.2f} reviews/s, ours x {row['captum_x']:.2f}"
               if "captum" in row else ""))
    del lm
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return report


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="GPU benchmark: ours vs Captum tuned on one device")
    ap.add_argument("--device", default="cuda", help="torch device (default cuda)")
    ap.add_argument("--models", default="default,bert-base", help="comma list of default, bert-base")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma list of " + ", ".join(METHODS))
    ap.add_argument("--limit", type=int, default=300, help="reviews (the first N of the 300-review sample)")
    ap.add_argument("--corpus-file", help="JSONL with text and id/review_id instead of the 300-review sample")
    ap.add_argument("--steps", type=int, default=50, help="IG steps")
    ap.add_argument("--samples", type=int, default=128, help="KernelSHAP coalitions per review")
    ap.add_argument("--batch-size", type=int, default=32, help="reviews per call (ours and Captum)")
    ap.add_argument("--probe", type=int, default=4, help="reviews of Captum's perturbations_per_eval probe")
    ap.add_argument("--no-captum", dest="captum", action="store_false")
    ap.add_argument("--time-budget", type=float, default=450.0, help="seconds; later runs are skipped")
    ap.add_argument("--workdir", help="where the BERT-base-shaped model is built (default: a temporary folder)")
    ap.add_argument("--smoke", action="store_true", help="CPU, the tiny test model, 2 reviews, small settings")
    ap.add_argument("--out", help="write the report as JSON here")
    args = ap.parse_args(argv)

    import torch

    from benchmarks import models

    if args.smoke:
        args.device, args.models, args.limit = "cpu", "tiny", min(args.limit, 2)
        args.steps, args.samples, args.batch_size, args.probe = 4, 16, 2, 1
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in args.methods:
        if m not in METHODS:
            ap.error(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: nothing measured (use --smoke to check the code path on the CPU)")
        return {"skipped": "no CUDA device"}

    def log(msg: str) -> None:
        print(msg, flush=True)

    started = time.perf_counter()
    deadline = started + args.time_budget
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="saliency-gpu-"))
    report: dict[str, Any] = {"torch": torch.__version__, "device": args.device, "limit": args.limit,
                              "steps": args.steps, "samples": args.samples, "batch_size": args.batch_size,
                              "time_budget": args.time_budget, "models": []}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        try:
            source = models.prepare(name, workdir)
            report["models"].append(run_model(name, source, args, deadline, log))
        except models.ModelUnavailable as exc:
            report["models"].append({"model": name, "skipped": str(exc)})
    report["seconds"] = time.perf_counter() - started
    print_table(report, log)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
        log(f"wrote {args.out}")
    return report


def print_table(report: dict, log) -> None:
    head = ("model", "method", "reviews/s", "peak MB", "FLOP %", "Captum tuned reviews/s", "Captum peak MB", "ours x")
    lines = [head]
    for m in report["models"]:
        for r in m.get("runs", []):
            if "skipped" in r:
                lines.append((m["model"], r["method"], "skipped: " + r["skipped"], "", "", "", "", ""))
                continue
            c = r.get("captum") or {}
            lines.append((m["model"], f"{r['method']} ({r['dtype']})", f"{r['reviews_per_s']:.2f}", f"{r['peak_mb']:.0f}",
                          f"{100 * r['flop_fraction']:.1f}", f"{c['reviews_per_s']:.2f}" if c else "-",
                          f"{c['peak_mb']:.0f}" if c else "-", f"{r['captum_x']:.2f}" if "captum_x" in r else "-"))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    log(f"\ntotal {report['seconds']:.0f} s")
    for line in lines:
        log("  ".join(str(c).ljust(w) for c, w in zip(line, widths)))


if __name__ == "__main__":
    main()

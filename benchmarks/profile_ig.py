"""Where IG's time goes on real reviews: per chunk shape, per phase, per operator kind.

    python -m benchmarks.profile_ig --limit 24 --steps 20            # embedded model, the 300-review sample
    python -m benchmarks.profile_ig --model bert-base --limit 8 --steps 20

One engine run (``runners.local.explain_reviews``, integrated-gradients, fp32 by default) is timed with
hooks, and a second identical run under ``torch.profiler`` sorts its CPU time by operator kind:

* phases: the input pass (prediction), the baseline forward, the path pass (forward and backward of
  every chunk, timed apart with a forward hook on the model and a wrapper on ``torch.autograd.grad``)
  and what remains (tokenising, Python, records);
* chunks: rows x padded length of every path-pass chunk, its real tokens (padding = the rest) and
  its forward and backward seconds, and the honest FLOP rate of each (``benchmarks.flops``);
* operators: the linear layers' matmuls, attention (the SDPA kernel, or eager attention's batched
  products and softmax), LayerNorm, GELU, copies and the rest, self CPU time, forward and backward
  together; and the rate of the first two families, each on its own useful FLOPs
  (``flops.pass_parts``: the path pass on real tokens, plus the prediction and baseline forwards
  at each chunk's mean real length), which shows which kernel keeps a run from the ceiling.

The matmul ceiling (the model's own linear shapes) is measured before and after; the load average
is printed. Each figure is from this machine as loaded at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks import flops

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CLOCK = time.perf_counter  # --cpu-time: time.process_time

KINDS = (
    ("linear matmuls", ("addmm", "::mm", "::linear")),
    ("attention", ("scaled_dot_product", "bmm", "baddbmm", "matmul", "softmax")),
    ("layernorm", ("layer_norm",)),
    ("gelu", ("gelu",)),
    ("copy/reshape", ("copy_", "clone", "contiguous", "cat", "index", "expand", "transpose", "view", "permute",
                      "to", "empty", "zero", "fill", "stack")),
)


def kind_of(name: str) -> str:
    lowered = name.lower()
    for kind, keys in KINDS:
        if any(k in lowered for k in keys):
            return kind
    return "other elementwise"


def instrument(lm: Any, log: dict) -> list:
    """Forward hooks on every module the engine may run (model, attention variants, [CLS]-only twins)
    recording rows, padded length, real tokens and seconds of each forward."""
    modules = {id(m): m for m in (lm.model, *lm.variants.values(), *lm.head_only.values())}
    handles = []
    for m in modules.values():
        def pre(module, args, kwargs):
            log["_t"] = CLOCK()

        def post(module, args, kwargs, output):
            x = kwargs.get("inputs_embeds")
            if x is None:
                x = kwargs.get("input_ids")
            mask = kwargs.get("attention_mask")
            real = int(mask.sum()) if mask is not None else x.shape[0] * x.shape[1]
            log["forwards"].append({"rows": x.shape[0], "length": x.shape[1], "real": real,
                                    "grad": bool(x.requires_grad), "seconds": CLOCK() - log["_t"]})

        handles.append(m.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(m.register_forward_hook(post, with_kwargs=True))
    return handles


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default", help="default | bert-base | tiny")
    ap.add_argument("--corpus", default="long",
                    help="long = the 300-review Amazon sample (whole reviews), short = the 200 review snippets")
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--max-memory", type=int, default=0, help="MB (0 = the engine's default)")
    ap.add_argument("--no-profiler", action="store_true", help="skip the operator breakdown run")
    flops.add_clock_options(ap)
    ap.add_argument("--out")
    args = ap.parse_args(argv)

    import torch

    global CLOCK
    CLOCK = flops.clock_from(args)

    from benchmarks import corpus, models
    from saliency_cli.engine import gradients
    from saliency_cli.runners.local import explain_reviews
    from saliency_cli.settings import make_settings

    lm = models.load(models.prepare(args.model, Path(tempfile.gettempdir()) / "saliency-profile"))
    config = lm.model.config
    reviews = corpus.load_corpus(args.corpus, args.limit)
    settings = make_settings(["integrated-gradients"], options={"steps": args.steps}, batch_size=args.batch_size,
                             dtype=args.dtype, max_memory=(args.max_memory << 20) or None)
    explain_reviews(lm, reviews[:1], settings)  # warm-up
    ceiling = flops.matmul_ceiling(config, clock=CLOCK)["best"]

    log: dict[str, Any] = {"forwards": [], "backward": [], "phase": defaultdict(float)}
    real_grad = torch.autograd.grad

    def timed_grad(*a, **k):
        start = CLOCK()
        try:
            return real_grad(*a, **k)
        finally:
            log["backward"].append(CLOCK() - start)

    def phase(name: str, fn):
        def wrapped(*a, **k):
            start = CLOCK()
            try:
                return fn(*a, **k)
            finally:
                log["phase"][name] += CLOCK() - start
        return wrapped

    originals = {n: getattr(gradients, n) for n in ("input_pass", "forward_values", "path_pass")}
    handles = instrument(lm, log)
    torch.autograd.grad = timed_grad
    for n, fn in originals.items():
        setattr(gradients, n, phase(n, fn))
    load_start = os.getloadavg()[0]
    start = CLOCK()
    try:
        explain_reviews(lm, reviews, settings)
    finally:
        wall = CLOCK() - start
        torch.autograd.grad = real_grad
        for n, fn in originals.items():
            setattr(gradients, n, fn)
        for h in handles:
            h.remove()
    ceiling = max(ceiling, flops.matmul_ceiling(config, clock=CLOCK)["best"])

    lengths = [len(x) for x in lm.tokenizer([r.text for r in reviews], truncation=True,
                                            max_length=lm.max_length)["input_ids"]]
    needed = flops.pass_flops(lengths, config, backward=True) * args.steps
    path = [f for f in log["forwards"] if f["grad"]]
    # the path pass runs one backward per chunk (one target): pair them in order
    for f, b in zip(path, log["backward"]):
        f["backward_seconds"] = b
    shapes: dict[str, dict] = {}
    for f in path:
        key = f"{f['rows']}x{f['length']}"
        s = shapes.setdefault(key, {"chunks": 0, "rows": f["rows"], "length": f["length"], "real": 0,
                                    "forward_s": 0.0, "backward_s": 0.0})
        s["chunks"] += 1
        s["real"] += f["real"]
        s["forward_s"] += f["seconds"]
        s["backward_s"] += f.get("backward_seconds", 0.0)
    fwd_s = sum(f["seconds"] for f in path)
    bwd_s = sum(log["backward"])
    computed = sum(f["rows"] * f["length"] for f in path)
    real = sum(f["real"] for f in path)
    nograd = [f for f in log["forwards"] if not f["grad"]]
    report: dict[str, Any] = {
        "model": args.model, "reviews": len(reviews), "real_tokens": sum(lengths), "steps": args.steps,
        "dtype": args.dtype, "threads": torch.get_num_threads(), "cpu_time": args.cpu_time, "load_start": load_start,
        "load_end": os.getloadavg()[0], "ceiling_gflops": ceiling, "wall_s": wall,
        "flop_fraction": needed / wall / (ceiling * 1e9),
        "phases": dict(log["phase"]), "path_forward_s": fwd_s, "path_backward_s": bwd_s,
        "padding": computed / max(1, real) - 1, "no_grad_forwards": len(nograd),
        "no_grad_forward_s": sum(f["seconds"] for f in nograd),
        "chunks": sorted(shapes.values(), key=lambda s: s["length"]),
    }
    other = wall - sum(log["phase"].values())
    print(f"{args.model}: {len(reviews)} reviews, {sum(lengths)} real tokens, IG {args.steps} steps, {args.dtype}, "
          f"{torch.get_num_threads()} threads; load {load_start:.2f} -> {report['load_end']:.2f}; "
          f"ceiling {ceiling:.0f} GFLOP/s")
    print(f"wall {wall:.2f} s, honest FLOP fraction {100 * report['flop_fraction']:.1f} %")
    print(f"  path pass {log['phase']['path_pass']:.2f} s (forward {fwd_s:.2f}, backward {bwd_s:.2f}, "
          f"rest {log['phase']['path_pass'] - fwd_s - bwd_s:.2f}); padding +{100 * report['padding']:.1f} % tokens")
    print(f"  input pass (prediction) {log['phase']['input_pass']:.2f} s; baseline forward "
          f"{log['phase']['forward_values']:.2f} s; outside the gradient passes (tokenising, records) {other:.2f} s")
    print("  chunks (rows x length: count, real tokens / computed, forward s, backward s, GFLOP/s needed):")
    for s in report["chunks"]:
        work = flops.pass_flops([s["length"]] * s["rows"], config, backward=True) * s["chunks"] * s["real"] / (
            s["chunks"] * s["rows"] * s["length"])
        s["gflops_real"] = work / max(1e-9, s["forward_s"] + s["backward_s"]) / 1e9
        print(f"    {s['rows']:>4} x {s['length']:<4} {s['chunks']:>3}  {s['real'] / (s['chunks'] * s['rows'] * s['length']):.2f}"
              f"  {s['forward_s']:.2f}  {s['backward_s']:.2f}  {s['gflops_real']:.0f}")

    if not args.no_profiler:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            explain_reviews(lm, reviews, settings)
        kinds: dict[str, float] = defaultdict(float)
        for ev in prof.key_averages():
            if ev.self_cpu_time_total > 0 and ev.key.startswith("aten::"):
                kinds[kind_of(ev.key)] += ev.self_cpu_time_total / 1e6
        total = sum(kinds.values())
        report["operators_s"] = dict(kinds)
        print("  operators (self CPU s, profiled run): " + ", ".join(
            f"{k} {v:.2f} ({100 * v / total:.0f} %)" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))
        linear, attention = flops.pass_parts(lengths, config, backward=True)
        linear, attention = linear * args.steps, attention * args.steps
        for f in nograd:
            part = flops.pass_parts([f["real"] / f["rows"]] * f["rows"], config, backward=False)
            linear, attention = linear + part[0], attention + part[1]
        report["kernel_gflops"] = {
            "linear matmuls": linear / max(1e-9, kinds["linear matmuls"]) / 1e9,
            "attention": attention / max(1e-9, kinds["attention"]) / 1e9,
        }
        print("  useful GFLOP/s by kernel family (ceiling %.0f): " % ceiling + ", ".join(
            f"{k} {v:.0f} ({100 * v / ceiling:.0f} %)" for k, v in report["kernel_gflops"].items())
            + f"; attention is {100 * attention / (linear + attention):.0f} % of the useful FLOPs")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()

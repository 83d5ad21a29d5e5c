"""Engine levers measured one by one, in one process, back to back (A B A B ..., fastest kept).

    python -m benchmarks.levers --model default            # embedded MiniLM
    python -m benchmarks.levers --model bert-base --quick  # BERT-base shape, random weights

1. The matmul ceiling: ``F.linear`` on the model's own shapes, fp32 and bf16 (``benchmarks.flops``).
2. Forward + input-gradient backward of one chunk (rows x length), the full model against the
   last layer computed for [CLS] only (``engine.head_only``): seconds and honest FLOP fraction.
3. Forward-only (inference) chunks: rows/s by rows per chunk at a fixed length, full and [CLS]-only,
   which is what sizes ``engine.budget.INFERENCE_TOKENS``.
4. A chunk's fixed cost: the same rows run as 1, 2, 4 and 8 chunks; the extra time per extra chunk,
   in tokens' worth of work, is what ``engine.budget.CHUNK_OVERHEAD_TOKENS`` stands for.

Every figure is wall time on this machine as loaded at the time; the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks import flops

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


CLOCK = time.perf_counter  # --cpu-time: time.process_time (CPU seconds of this process)


def best_of(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Fastest of ``repeat`` runs of each function, interleaved so load hits all alike."""
    best = {k: float("inf") for k in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(repeat):
        for k, fn in fns.items():
            start = CLOCK()
            fn()
            best[k] = min(best[k], CLOCK() - start)
    return best


def probe(config: Any, ceiling: dict[str, float]) -> tuple[Callable[[], None], float]:
    """A fixed matmul load on the model's fastest linear shape (function, its FLOPs), timed next to
    every workload so each fraction has a ceiling measured under the same load."""
    import torch
    import torch.nn.functional as F

    from benchmarks import flops

    m, k, n = max(flops.linear_shapes(config), key=lambda s: ceiling.get(f"{s[0]}x{s[1]}x{s[2]}", 0.0))
    x, w = torch.randn(m, k), torch.randn(n, k)
    reps = 8
    return (lambda: [F.linear(x, w) for _ in range(reps)]), 2.0 * m * k * n * reps


def chunk_inputs(lm: Any, rows: int, length: int) -> dict[str, Any]:
    import torch

    gen = torch.Generator().manual_seed(0)
    vocab = int(lm.model.config.vocab_size)
    ids = torch.randint(min(1000, vocab // 2), min(2000, vocab), (rows, length), generator=gen)
    ids[:, 0], ids[:, -1] = lm.tokenizer.cls_token_id, lm.tokenizer.sep_token_id
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}


def grad_pass(model: Any, lm: Any, batch: dict[str, Any]) -> Callable[[], None]:
    import torch

    emb = lm.model.get_input_embeddings()(batch["input_ids"]).detach()
    kwargs = {k: v for k, v in batch.items() if k != "input_ids"}

    def run() -> None:
        x = emb.clone().requires_grad_(True)
        logits = model(inputs_embeds=x, **kwargs).logits
        torch.autograd.grad(logits[:, 0].sum(), x)

    return run


def infer_pass(model: Any, batch: dict[str, Any], chunk: int) -> Callable[[], None]:
    import torch

    def run() -> None:
        with torch.inference_mode():
            for start in range(0, batch["input_ids"].shape[0], chunk):
                model(**{k: v[start:start + chunk] for k, v in batch.items()})

    return run


def chunk_overhead(model: Any, lm: Any, batch: dict[str, Any], inference: bool, repeat: int) -> list[float]:
    """The rows of ``batch`` run as 1, 2, 4 and 8 chunks: the time each extra chunk adds, in tokens'
    worth of the one-chunk run (per-token cost x tokens), for 2, 4 and 8 chunks."""
    rows, length = batch["input_ids"].shape

    def split(k: int) -> Callable[[], None]:
        parts = [{n: v[i * rows // k:(i + 1) * rows // k] for n, v in batch.items()} for i in range(k)]
        runs = [infer_pass(model, part, rows) if inference else grad_pass(model, lm, part) for part in parts]
        return lambda: [run() for run in runs]

    t = best_of({k: split(k) for k in (1, 2, 4, 8)}, repeat)
    per_token = t[1] / (rows * length)
    return [(t[k] - t[1]) / (k - 1) / per_token for k in (2, 4, 8)]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default", help="default | bert-base | tiny")
    ap.add_argument("--shapes", default="32x128,16x256,96x40", help="rows x length of the gradient chunks")
    ap.add_argument("--length", type=int, default=128, help="tokens per row of the inference chunks")
    ap.add_argument("--rows", default="8,16,32,96", help="rows per inference chunk")
    ap.add_argument("--total", type=int, default=96, help="inference rows per measurement")
    ap.add_argument("--overhead-shapes", default="16x128,32x40,8x300",
                    help="rows x length of the chunk overhead measurements")
    ap.add_argument("--repeat", type=int, default=3)
    flops.add_clock_options(ap)
    ap.add_argument("--out")
    args = ap.parse_args(argv)

    import torch

    global CLOCK
    CLOCK = flops.clock_from(args)

    from benchmarks import models

    lm = models.load(models.prepare(args.model, Path(tempfile.gettempdir()) / "saliency-levers"))
    config = lm.model.config
    kernel = getattr(config, "_attn_implementation", "eager")
    reduced = lm.head_only.get(kernel)
    report: dict[str, Any] = {"model": args.model, "threads": torch.get_num_threads(), "cpu_time": args.cpu_time,
                              "load_start": os.getloadavg()[0]}
    ceiling = flops.matmul_ceiling(config, clock=CLOCK)
    report["ceiling_fp32"] = ceiling
    report["ceiling_bf16"] = flops.matmul_ceiling(config, "bfloat16", 2.0, clock=CLOCK)
    print(f"{args.model}: load {report['load_start']:.2f}; ceiling fp32 {ceiling['best']:.0f} GFLOP/s "
          f"({', '.join(f'{k} {v:.0f}' for k, v in ceiling.items() if k != 'best')}), "
          f"bf16 {report['ceiling_bf16']['best']:.0f}", flush=True)

    ceiling_fn, ceiling_work = probe(config, ceiling)
    report["gradient_chunks"] = []
    for shape in args.shapes.split(","):
        rows, length = (int(x) for x in shape.split("x"))
        batch = chunk_inputs(lm, rows, length)
        fns = {"ceiling": ceiling_fn, "full": grad_pass(lm.model, lm, batch)}
        if reduced is not None:
            fns["cls-only"] = grad_pass(reduced, lm, batch)
        t = best_of(fns, args.repeat)
        rate = ceiling_work / t.pop("ceiling")  # FLOP/s of the probe, under this row's load
        needed = flops.pass_flops([length] * rows, config, backward=True)
        full_work = flops.pass_flops([length] * rows, config, backward=True, needed=False)
        row = {"rows": rows, "length": length, "seconds": t, "probe_gflops": rate / 1e9,
               "fraction_full": full_work / t["full"] / rate,
               "fraction": needed / min(t.values()) / rate}
        if "cls-only" in t:
            row["gain"] = t["full"] / t["cls-only"]
        report["gradient_chunks"].append(row)
        print(f"fwd+bwd {rows}x{length} (probe {rate / 1e9:.0f} GFLOP/s): full {t['full']:.3f} s ({100 * row['fraction_full']:.0f} % of ceiling)"
              + (f", cls-only {t['cls-only']:.3f} s (x{row['gain']:.2f}; {100 * row['fraction']:.0f} % of ceiling"
                 " counting the work it needs)" if "cls-only" in t else ""), flush=True)

    report["inference_chunks"] = []
    args.length = min(args.length, lm.max_length)
    batch = chunk_inputs(lm, args.total, args.length)
    for chunk in (int(x) for x in args.rows.split(",")):
        fns = {"ceiling": ceiling_fn, "full": infer_pass(lm.model, batch, chunk)}
        if reduced is not None:
            fns["cls-only"] = infer_pass(reduced, batch, chunk)
        t = best_of(fns, args.repeat)
        rate = ceiling_work / t.pop("ceiling")
        needed = flops.pass_flops([args.length] * args.total, config, backward=False)
        row = {"rows": chunk, "tokens": chunk * args.length, "probe_gflops": rate / 1e9,
               "rows_per_s": {k: args.total / v for k, v in t.items()},
               "fraction": needed / min(t.values()) / rate}
        report["inference_chunks"].append(row)
        print(f"inference {chunk} x {args.length} (probe {rate / 1e9:.0f} GFLOP/s): " + ", ".join(f"{k} {v:.1f} rows/s" for k, v in
              row["rows_per_s"].items()) + f" ({100 * row['fraction']:.0f} % of ceiling, needed work)", flush=True)
    model = reduced if reduced is not None else lm.model
    report["chunk_overhead_tokens"] = {}
    for shape in args.overhead_shapes.split(","):
        rows, length = (int(x) for x in shape.split("x"))
        batch = chunk_inputs(lm, rows, length)
        for kind in ("fwd+bwd", "inference"):
            tokens = chunk_overhead(model, lm, batch, kind == "inference", args.repeat)
            report["chunk_overhead_tokens"][f"{kind} {shape}"] = tokens
            print(f"chunk overhead, {kind} {shape} split in 2 / 4 / 8 chunks: "
                  + " / ".join(f"{v:.0f}" for v in tokens) + " tokens per extra chunk", flush=True)
    report["load_end"] = os.getloadavg()[0]
    print(f"load at the end {report['load_end']:.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()

"""What ``evaluate`` costs: reviews/s and model rows per review, with and without the faithfulness copies.

    python -m benchmarks.evaluate                      # the 300-review Amazon sample, default methods
    python -m benchmarks.evaluate --limit 50 --max-length 128 --methods ig,occlusion --out evaluate.json

Runs, back to back in this process on the embedded model (or ``--model FOLDER``): ``explain`` of the methods (plus the random
control) without faithfulness, then the same with faithfulness, which is what ``evaluate`` runs.
Model rows are sequences through the model, counted by a hook on the embedding block (gradient
passes and forward-only copies alike; a backward pass is not counted). ``faithfulness rows`` is the
difference of the two runs; ``without sharing`` is what the faithfulness copies would cost if every
(method, target) ran its own 12 copies (full input, fully replaced input, 5 bins x 2), i.e. without
the engine's per-review deduplication.
"""

from __future__ import annotations

import argparse
import json
import os
import time



class RowCounter:
    """Sequences through the model: a hook on the embedding block of the model and of every variant the
    engine may run (attention kernels, the last-layer-for-[CLS]-only copy), each block hooked once."""

    def __init__(self, lm) -> None:
        self.rows = 0
        self.handles, seen = [], set()
        models = (lm.model, *lm.variants.values(), *getattr(lm, "head_only", {}).values())
        for model in models:
            base = getattr(model, getattr(model, "base_model_prefix", ""), model)
            module = getattr(base, "embeddings", None) or model.get_input_embeddings()
            if id(module) not in seen:
                seen.add(id(module))
                self.handles.append(module.register_forward_hook(self._hook))

    def _hook(self, module, args, output) -> None:
        out = output[0] if isinstance(output, tuple) else output
        self.rows += int(out.shape[0])

    def reset(self) -> None:
        self.rows = 0

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default="sample_data/amazon_reviews_full.jsonl", help="JSONL with 'text'")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--methods", default="gradient,gradient-x-input,integrated-gradients,occlusion")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", help="local model folder (default: the embedded model)")
    parser.add_argument("--max-length", type=int, help="truncate reviews to N tokens (default: the model limit)")
    parser.add_argument("--out")
    args = parser.parse_args(argv)

    import torch

    from saliency_cli.evaluation.statistics import summarize, tally_reviews, with_control
    from saliency_cli.evaluation.faithfulness import BINS
    from saliency_cli.model.loading import load_model
    from saliency_cli.runners.local import explain_reviews
    from saliency_cli.inputs import texts_to_reviews
    from saliency_cli.settings import make_settings

    with open(args.input, encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh if line.strip()][: args.limit]
    reviews = texts_to_reviews(texts)
    lm = load_model(args.model, device="cpu", max_length=args.max_length)
    names = with_control(args.methods.split(","))
    counter = RowCounter(lm)
    explain_reviews(lm, reviews[:2], make_settings(names, faithfulness=True))  # warm-up, not timed
    result: dict = {"reviews": len(reviews), "methods": names, "max_length": lm.max_length, "threads": torch.get_num_threads(),
                    "load_before": os.getloadavg()[0]}
    for faithfulness in (False, True):
        counter.reset()
        start = time.perf_counter()
        rows = explain_reviews(lm, reviews, make_settings(names, batch_size=args.batch_size, faithfulness=faithfulness))
        seconds = time.perf_counter() - start
        key = "evaluate" if faithfulness else "explain"
        result[key] = {"seconds": round(seconds, 2), "reviews_per_s": round(len(reviews) / seconds, 2),
                       "model_rows_per_review": round(counter.rows / len(reviews), 1)}
        if faithfulness:
            result["summary"] = summarize(tally_reviews(names, rows))
    counter.close()
    extra = result["evaluate"]["model_rows_per_review"] - result["explain"]["model_rows_per_review"]
    result["faithfulness_rows_per_review"] = round(extra, 1)
    result["faithfulness_rows_without_sharing"] = len(names) * (2 + 2 * len(BINS))
    result["load_after"] = os.getloadavg()[0]
    print(f"{len(reviews)} reviews, methods {', '.join(names)}, {result['threads']} threads, "
          f"load {result['load_before']:.1f} -> {result['load_after']:.1f}")
    for key in ("explain", "evaluate"):
        r = result[key]
        print(f"  {key:9s} {r['seconds']:8.1f} s  {r['reviews_per_s']:6.2f} reviews/s  "
              f"{r['model_rows_per_review']:7.1f} model rows/review")
    print(f"  faithfulness copies: {extra:.1f} rows/review (each method on its own: "
          f"{result['faithfulness_rows_without_sharing']}); time x"
          f"{result['explain']['seconds'] and result['evaluate']['seconds'] / result['explain']['seconds']:.2f}")
    print("  ranking:", ", ".join(result["summary"]["ranking"]))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()

"""Perturbation methods, side by side: our occlusion and KernelSHAP vs Captum and shap, in one process.

    python -m benchmarks.perturbation                     # 6 reviews, 128 tokens, S=200: a few minutes
    python -m benchmarks.perturbation --limit 10 --max-length 128 --samples 500 --out perturbation.json

Every runner explains the same reviews (the first ``--limit`` of the 300-review Amazon sample, cut
once, up front, after their last token that fits ``--max-length``) with the same word features,
the same replacement (the mask token) and the same target (our predicted label, F = its softmax
probability), back to back in this one process:

* ``ours-occlusion`` / ``ours-occlusion-auto``: ``occlusion`` (features=word, baseline=mask) through
  ``saliency_cli.runners.local.explain_reviews`` with ``--batch-size``, in float32 and with ``dtype="auto"``
  (bfloat16 where the CPU runs it natively; the resolved dtype is reported);
* ``captum-fa-<p>``: Captum ``FeatureAblation`` on the review's token ids (one review per call, as
  Captum recommends for perturbation methods), word feature mask built from
  ``engine.encoding.features(enc, "word")``, baseline = the mask token id, ``perturbations_per_eval``
  = p for each p of ``--ppe``; the special tokens are not inputs at all: the forward function puts
  the (perturbed) content tokens back between them, so they are never ablated and cost nothing;
* ``ours-kernel-shap`` / ``ours-kernel-shap-auto``: ``kernel-shap`` (samples S, seed 0), same features;
* ``captum-ks``: Captum ``KernelShap`` with the same mask and ``n_samples`` = S, at the fastest
  ``perturbations_per_eval`` of the FeatureAblation runs (torch seed 0);
* ``shap-partition``: ``shap.explainers.Partition`` with ``shap.maskers.Text(tokenizer, "[MASK]")``
  on a pipeline-like function (strings -> tokenizer -> model -> probability of the target label),
  ``max_evals`` = S. Its features are the tokenizer's tokens (shap's own hierarchy over them), its
  scores are summed per word for comparison.

Captum and shap runners make their own prediction forward first (to pick the target, as a user
must); ours makes it inside the engine. Measured per runner: wall time after an untimed warm-up on
the shortest review, forward rows (sequences through the model, counted by a hook on the model's
embedding layer, so every caller and every attention variant is seen) per review, the RSS peak
while it ran (sampled every 5 ms; the process's ``ru_maxrss`` is reported too), and agreement:

* occlusion: max |ours - Captum FeatureAblation| over every word of every review (same copies, so
  this is float rounding only; pass mark ``OCCLUSION_TOL``);
* kernel-shap: efficiency, |sum(scores) - (F(x) - F(every word masked))| per review, with both F
  from a separate float32 reference forward (pass mark ``EFFICIENCY_TOL`` for our float32 run);
  and, since Captum and shap sample coalitions differently, only the Spearman rank correlation of
  the word scores with ours, per review (``--reference-samples N`` adds a comparison of every
  KernelSHAP runner with ours at N samples).

Each run also records its CPU share (CPU seconds / (wall x threads)): on a shared machine a run
that lost a core shows about 0.5. ``--repeat`` runs whole rounds again and keeps each runner's
fastest run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

OCCLUSION_TOL = 1e-5  # max abs difference of probabilities, ours float32 vs Captum FeatureAblation
EFFICIENCY_TOL = 1e-5  # |sum(scores) - (F(x) - F(none))|, ours float32
RUNNERS = ("ours-occlusion", "ours-occlusion-auto", "captum-fa", "ours-kernel-shap", "ours-kernel-shap-auto",
           "captum-ks", "shap-partition")
# opt-in (--runners): the engine without this release's levers (benchmarks.before), float32,
# for a before/after ratio under the same load
BEFORE_RUNNERS = ("ours-occlusion-before", "ours-kernel-shap-before")
OCCLUSION_RUNNERS = ("ours-occlusion", "ours-occlusion-auto", "captum-fa")


# --------------------------------------------------------------------------- measurement helpers


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class RssPeak:
    """The highest RSS seen while the block runs (sampled every ``interval`` s in a thread)."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.start = self.peak = 0.0
        self._stop = threading.Event()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> "RssPeak":
        self.start = self.peak = rss_mb()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


class ForwardCounter:
    """Counts the rows (sequences) and padded tokens every forward pass of the model runs, through a
    hook on the embedding block of the model, of each attention variant sharing its weights, and of
    each [CLS]-only twin (``LoadedModel.head_only``)."""

    def __init__(self, lm: Any):
        self.rows = self.tokens = self.calls = 0
        self.handles = []
        for model in {id(m): m for m in (lm.model, *lm.variants.values(), *lm.head_only.values())}.values():
            base = getattr(model, model.base_model_prefix, model)
            module = getattr(base, "embeddings", None) or model.get_input_embeddings()
            self.handles.append(module.register_forward_hook(self._hook))

    def _hook(self, module, args, output) -> None:
        out = output[0] if isinstance(output, tuple) else output
        self.calls += 1
        self.rows += int(out.shape[0])
        self.tokens += int(out.shape[0] * out.shape[1])

    def reset(self) -> None:
        self.rows = self.tokens = self.calls = 0

    def close(self) -> None:
        for h in self.handles:
            h.remove()


# --------------------------------------------------------------------------- inputs


@dataclass
class Item:
    """One review as every runner sees it: its cut text, our encoding and word features, references."""

    review: Any
    enc: Any
    feats: list[list[int]]
    content: list[int]  # non-special token positions
    target: int = -1
    f_x: float = float("nan")  # reference float32 F(x) for the target
    f_none: float = float("nan")  # reference float32 F(every word masked)

    @property
    def text(self) -> str:
        return self.review.text


def cut_texts(lm: Any, reviews: list) -> list:
    """Reviews whose text ends after its last token that fits the model, so no runner truncates."""
    from dataclasses import replace

    from saliency_cli.engine.encoding import encode

    out = []
    for review, enc in zip(reviews, encode(lm, reviews)):
        enc = enc[0]
        ends = [b for (a, b), sp in zip(enc.offsets, enc.special) if not sp and b > a]
        text = review.text[: ends[-1]] if enc.dropped and ends else review.text
        out.append(replace(review, text=text))
    return out


def model_inputs(lm: Any, rows: list[list[int]], types: list[int] | None) -> dict:
    import torch

    ids = torch.tensor(rows, dtype=torch.long)
    kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if types is not None:
        kwargs["token_type_ids"] = torch.tensor([types] * len(rows), dtype=torch.long)
    return kwargs


def prepare_items(lm: Any, reviews: list) -> list[Item]:
    """Encodings, word features and float32 reference values (target, F(x), F(none)) per review."""
    import torch

    from saliency_cli.engine.encoding import encode, features

    mask_id = lm.tokenizer.mask_token_id
    items = []
    for review, enc in zip(reviews, encode(lm, reviews)):
        enc = enc[0]
        if enc.dropped:
            raise RuntimeError(f"review {review.id} still needs truncation after cutting its text")
        feats = features(enc, "word")
        content = [p for p, sp in enumerate(enc.special) if not sp]
        none = [mask_id if not sp else t for t, sp in zip(enc.input_ids, enc.special)]
        with torch.inference_mode():
            probs = torch.softmax(lm.model(**model_inputs(lm, [enc.input_ids, none], enc.token_type_ids)).logits, -1)
        target = int(probs[0].argmax())
        items.append(Item(review, enc, feats, content, target, float(probs[0, target]), float(probs[1, target])))
    return items


# --------------------------------------------------------------------------- runners


@dataclass
class Run:
    """What one runner gave: per review the word scores (by feature index), plus facts to report."""

    scores: list[np.ndarray]
    targets: list[int]
    extra: dict = field(default_factory=dict)
    totals: list[float] | None = None  # sum over every token, where it differs from the sum over words


def run_ours(lm: Any, items: list[Item], method: str, samples: int, batch_size: int, dtype: str,
             max_memory_mb: int = 0, before: bool = False) -> Run:
    """Ours through ``runners.local.explain_reviews``; ``before``: the engine as it was (``benchmarks.before``:
    full last layer, chunks filled to the budget), for a before/after under the same load."""
    if before:
        from benchmarks.before import as_before

        with as_before(lm) as old:
            return run_ours(old, items, method, samples, batch_size, dtype, max_memory_mb)
    from saliency_cli.engine.precision import resolve_dtype
    from saliency_cli.runners.local import explain_reviews
    from saliency_cli.settings import make_settings

    options: dict[str, Any] = {"baseline": "mask", "features": "word"}
    if method == "kernel-shap":
        options.update(samples=samples, seed=0)
    settings = make_settings([method], options=options, batch_size=batch_size, dtype=dtype,
                             max_memory=(max_memory_mb << 20) or None)
    explanations = explain_reviews(lm, [it.review for it in items], settings)
    scores, targets = [], []
    for it, e in zip(items, explanations):
        tok = [t.score for t in e.tokens]
        if len(tok) != it.enc.length:
            raise RuntimeError(f"review {it.review.id}: {len(tok)} token scores for {it.enc.length} tokens")
        scores.append(np.array([sum(tok[p] for p in f) for f in it.feats]))
        targets.append(e.target.index)
    return Run(scores, targets, {"dtype": resolve_dtype(dtype, lm), "batch_size": batch_size,
                                 "max_memory_mb": max_memory_mb or None})


class CaptumForward:
    """Captum's view of one review: the content token ids [1, n] are the input; the forward function
    puts them back between the special tokens and returns the softmax probabilities."""

    def __init__(self, lm: Any, item: Item):
        import torch

        self.torch = torch
        self.lm = lm
        self.template = torch.tensor(item.enc.input_ids, dtype=torch.long)
        self.types = None if item.enc.token_type_ids is None else torch.tensor(item.enc.token_type_ids)
        self.content = torch.tensor(item.content, dtype=torch.long)
        self.inputs = self.template[self.content].unsqueeze(0)
        position = {p: i for i, p in enumerate(item.content)}
        mask = torch.zeros(len(item.content), dtype=torch.long)
        for f, positions in enumerate(item.feats):
            for p in positions:
                mask[position[p]] = f
        self.feature_mask = mask.unsqueeze(0)
        self.first = [position[f[0]] for f in item.feats]

    def __call__(self, x):
        torch = self.torch
        full = self.template.unsqueeze(0).repeat(x.shape[0], 1)
        full[:, self.content] = x
        kwargs = {"attention_mask": torch.ones_like(full)}
        if self.types is not None:
            kwargs["token_type_ids"] = self.types.unsqueeze(0).expand_as(full)
        return torch.softmax(self.lm.model(input_ids=full, **kwargs).logits, dim=-1)

    def predict(self) -> int:
        return int(self(self.inputs).argmax(-1)[0])

    def per_feature(self, attr) -> np.ndarray:
        row = attr[0].detach().double().numpy()
        return np.array([row[i] for i in self.first])


def run_captum(lm: Any, items: list[Item], kind: str, ppe: int, samples: int) -> Run:
    import torch
    from captum.attr import FeatureAblation, KernelShap

    mask_id = lm.tokenizer.mask_token_id
    scores, targets = [], []
    if kind == "ks":
        torch.manual_seed(0)
    with torch.no_grad():
        for it in items:
            fwd = CaptumForward(lm, it)
            target = fwd.predict()
            common = dict(baselines=mask_id, target=target, feature_mask=fwd.feature_mask, perturbations_per_eval=ppe)
            if kind == "fa":
                attr = FeatureAblation(fwd).attribute(fwd.inputs, **common)
            else:
                attr = KernelShap(fwd).attribute(fwd.inputs, n_samples=samples, **common)
            scores.append(fwd.per_feature(attr))
            targets.append(target)
    extra: dict[str, Any] = {"perturbations_per_eval": ppe}
    if kind == "ks":
        extra["n_samples"] = samples
    return Run(scores, targets, extra)


def run_shap(lm: Any, items: list[Item], samples: int, batch: int) -> Run:
    import shap
    import torch

    tok = lm.tokenizer
    state = {"target": 0}

    def probs(texts: list[str]):
        enc = tok(list(texts), padding=True, truncation=True, max_length=lm.max_length, return_tensors="pt")
        out = []
        with torch.inference_mode():
            for i in range(0, enc["input_ids"].shape[0], batch):
                part = {k: v[i : i + batch] for k, v in enc.items()}
                out.append(torch.softmax(lm.model(**part).logits, dim=-1))
        return torch.cat(out).double().numpy()

    def f(texts):
        return probs(texts)[:, state["target"]]

    masker = shap.maskers.Text(tok, mask_token=tok.mask_token, collapse_mask_token=False)
    explainer = shap.explainers.Partition(f, masker)
    scores, targets, totals, skipped = [], [], [], 0
    for it in items:
        target = int(probs([it.text])[0].argmax())
        state["target"] = target
        sv = explainer([it.text], max_evals=samples, batch_size=batch, silent=True)
        values = np.asarray(sv.values[0], dtype=np.float64)
        # With fewer evaluations than splits, shap spreads a group's value over all of its tokens,
        # special ones included: efficiency holds for the sum over every token, not over words.
        totals.append(float(values.sum()))
        if len(values) != it.enc.length:  # shap tokenised the text differently: no per-word comparison
            skipped += 1
            scores.append(None)
        else:
            scores.append(np.array([values[f_].sum() for f_ in it.feats]))
        targets.append(target)
    return Run(scores, targets, {"max_evals": samples, "batch_size": batch, "token_mismatch": skipped}, totals)


# --------------------------------------------------------------------------- agreement


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if a is None or b is None or len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def rank_agreement(ours: Run, peer: Run) -> dict:
    rhos = [spearman(a, b) for a, b in zip(ours.scores, peer.scores)]
    rhos = [r for r in rhos if r is not None and np.isfinite(r)]
    if not rhos:
        return {"spearman_median": None, "spearman_min": None, "compared": 0}
    return {"spearman_median": float(np.median(rhos)), "spearman_min": float(min(rhos)),
            "spearman_mean": float(np.mean(rhos)), "compared": len(rhos)}


def median_rel_error(run: Run, ref: Run) -> float | None:
    """Median over reviews of max |score - reference| / max |reference| (words)."""
    errs = [float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(run.scores, ref.scores)
            if a is not None and len(b) and np.max(np.abs(b)) > 0]
    return float(np.median(errs)) if errs else None


def max_abs_diff(ours: Run, peer: Run) -> float:
    return float(max(np.max(np.abs(a - b)) for a, b in zip(ours.scores, peer.scores) if len(a)))


def efficiency_gap(run: Run, items: list[Item]) -> float:
    """max over reviews of |sum(scores) - (F(x) - F(none))|, F from the float32 reference forward."""
    sums = run.totals if run.totals is not None else [float(s.sum()) for s in run.scores]
    return float(max(abs(total - (it.f_x - it.f_none)) for total, it in zip(sums, items)))


# --------------------------------------------------------------------------- orchestration


def load_average() -> float:
    return os.getloadavg()[0]


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(name: str, fn: Callable[[list[Item]], Run], items: list[Item], counter: ForwardCounter, row: dict,
          threads: int) -> Run:
    """One timed run of ``fn`` on every item; its time, forward rows, RSS peak and CPU share go into ``row``.

    ``cpu_share`` = CPU seconds this process used / (wall seconds x torch threads): about 1 when the
    runner had its cores to itself, about 0.5 when another job took half of them."""
    counter.reset()
    load = load_average()
    with RssPeak() as mem:
        cpu, start = cpu_seconds(), time.perf_counter()
        run = fn(items)
        seconds = time.perf_counter() - start
        cpu = cpu_seconds() - cpu
    share = cpu / seconds / threads
    row.setdefault("all_seconds", []).append(seconds)
    row["cpu_seconds"] = min(row.get("cpu_seconds", float("inf")), cpu)
    row.setdefault("all_cpu_share", []).append(share)
    row.setdefault("all_load_avg", []).append(load)
    row["peak_rss_mb"] = max(row.get("peak_rss_mb", 0.0), mem.peak)
    row["work_mb"] = max(row.get("work_mb", 0.0), mem.peak - mem.start)
    if seconds <= row.get("seconds", float("inf")):
        n = len(items)
        row.update(seconds=seconds, cpu_share=share, load_avg_start=load, reviews_per_s=n / seconds,
                   forwards_per_review=counter.rows / n, padded_tokens_per_review=counter.tokens / n,
                   model_calls=counter.calls, rows_per_s=counter.rows / seconds)
    row["max_rss_mb"] = max_rss_mb()
    print(f"  {name}: {seconds:.1f} s, cpu share {share:.2f}, load {load:.2f}", flush=True)
    return run


def measure_all(plan: list[tuple[str, str, Callable[[list[Item]], Run]]], items: list[Item], warm: list[Item],
                counter: ForwardCounter, repeat: int, threads: int, rows: dict[str, dict] | None = None
                ) -> tuple[list[dict], dict[str, Run]]:
    """Every runner warmed up (untimed, on ``warm``) and timed once, back to back in plan order; with
    ``repeat`` > 1 the whole round again, so a burst of load from other jobs hits every runner alike.
    The fastest run of each runner is reported (all times are kept)."""
    rows = {} if rows is None else rows
    rows.update({name: {"runner": name, "method": method} for name, method, _ in plan})
    runs: dict[str, Run] = {}
    failed: set[str] = set()
    for round_ in range(repeat):
        print(f"round {round_ + 1}/{repeat} (load {load_average():.2f})", flush=True)
        for name, _, fn in plan:
            if name in failed:
                continue
            row = rows[name]
            try:
                if round_ == 0:
                    fn(warm)
                run = timed(name, fn, items, counter, row, threads)
                runs.setdefault(name, run)
                row["ok"] = True
                row.update(run.extra)
                wrong = sum(t != it.target for t, it in zip(run.targets, items))
                if wrong:
                    row["target_mismatch"] = wrong
            except Exception as exc:  # noqa: BLE001 - a runner that cannot run is reported, not fatal
                msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                row.update(ok=False, error=f"{type(exc).__name__}: {msg[:300]}")
                print(f"  {name} failed: {row['error']}", flush=True)
                failed.add(name)
    return list(rows.values()), runs


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Occlusion and KernelSHAP: saliency-cli vs Captum vs shap, one process")
    ap.add_argument("--model", default="default", help="'default' (the embedded model), a folder or a hub id")
    ap.add_argument("--corpus-file", help="JSONL with text and id/review_id (default: the 300-review Amazon sample)")
    ap.add_argument("--limit", type=int, default=6, help="the first N reviews")
    ap.add_argument("--max-length", type=int, default=128, help="tokens per review, specials included (0 = model's)")
    ap.add_argument("--samples", type=int, default=200, help="KernelSHAP coalitions / shap max_evals per review")
    ap.add_argument("--batch-size", type=int, default=8, help="reviews per engine batch (ours)")
    ap.add_argument("--max-memory", type=int, default=0, help="ours: memory budget in MB (0 = the engine's default)")
    ap.add_argument("--ppe", default="1,16,64", help="Captum perturbations_per_eval values to try")
    ap.add_argument("--shap-batch", type=int, default=64, help="shap batch_size (rows per model call)")
    ap.add_argument("--runners", default=",".join(RUNNERS), help="comma list of " + ", ".join(RUNNERS))
    ap.add_argument("--reference-samples", type=int, default=0,
                    help="also score every KernelSHAP runner against ours with this many samples (untimed; 0 = off)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per runner (the fastest is reported)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--out", help="write the report as JSON here")
    args = ap.parse_args(argv)

    import torch

    from benchmarks import corpus
    from saliency_cli import load_model
    from saliency_cli.engine.precision import resolve_dtype

    if args.threads:
        torch.set_num_threads(args.threads)
    runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    for r in runners:
        if r not in RUNNERS + BEFORE_RUNNERS:
            ap.error(f"unknown runner {r!r}; choose from {', '.join(RUNNERS + BEFORE_RUNNERS)}")
    ppes = [int(p) for p in args.ppe.split(",") if p.strip()]

    lm = load_model(None if args.model == "default" else args.model, device="cpu",
                    max_length=args.max_length or None)
    reviews = corpus.load_corpus("long", args.limit, path=args.corpus_file)
    items = prepare_items(lm, cut_texts(lm, reviews))
    warm = [min(items, key=lambda it: it.enc.length)]
    lengths = [it.enc.length for it in items]
    words = [len(it.feats) for it in items]
    versions = {"torch": torch.__version__}
    for lib in ("captum", "shap", "transformers"):
        try:
            versions[lib] = __import__(lib).__version__
        except ImportError:
            versions[lib] = None
    report: dict[str, Any] = {
        "model": lm.name, "max_length": lm.max_length, "reviews": len(items), "real_tokens": sum(lengths),
        "mean_tokens": sum(lengths) / len(items), "max_tokens": max(lengths), "words": sum(words),
        "mean_words": sum(words) / len(items), "samples": args.samples, "batch_size": args.batch_size,
        "max_memory_mb": args.max_memory or None,
        "ppe_tried": ppes, "dtype_auto": resolve_dtype("auto", lm), "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
        "load_avg_start": list(os.getloadavg()), "versions": versions, "repeat": args.repeat, "results": [],
    }
    print(f"{lm.name}: {len(items)} reviews, {sum(lengths)} tokens (mean {report['mean_tokens']:.0f}, max "
          f"{max(lengths)}), {sum(words)} words; S={args.samples}, batch {args.batch_size}, "
          f"{report['threads']} threads, dtype auto -> {report['dtype_auto']}", flush=True)

    counter = ForwardCounter(lm)
    plan: list[tuple[str, str, Callable[[list[Item]], Run]]] = []
    S, B, M = args.samples, args.batch_size, args.max_memory

    def ours(method: str, variant: str) -> None:
        """Our runner ``ours-<method>[-before|-auto]``, if chosen: float32, the old engine, or dtype auto."""
        name = f"ours-{method}" + (f"-{variant}" if variant else "")
        if name in runners:
            dtype = "auto" if variant == "auto" else "float32"
            plan.append((name, method, lambda xs: run_ours(lm, xs, method, S, B, dtype, M, before=variant == "before")))

    ours("occlusion", "")
    ours("occlusion", "before")
    if "captum-fa" in runners:
        for p in ppes:
            plan.append((f"captum-fa-{p}", "occlusion", lambda xs, p=p: run_captum(lm, xs, "fa", p, S)))
    ours("occlusion", "auto")
    ours("kernel-shap", "")
    ours("kernel-shap", "before")
    if "captum-ks" in runners:
        plan.append(("captum-ks", "kernel-shap", lambda xs: run_captum(lm, xs, "ks", best_ppe(), S)))
    if "shap-partition" in runners:
        plan.append(("shap-partition", "kernel-shap", lambda xs: run_shap(lm, xs, S, args.shap_batch)))
    ours("kernel-shap", "auto")

    rows: dict[str, dict] = {}
    chosen: list[int] = []

    def best_ppe() -> int:
        """The fastest FeatureAblation setting of the first round (fixed from then on)."""
        if not chosen:
            fa = [r for r in rows.values() if r["runner"].startswith("captum-fa-") and r.get("ok")]
            chosen.append(min(fa, key=lambda r: r["seconds"])["perturbations_per_eval"] if fa else max(ppes))
        return chosen[0]

    if "shap-partition" in runners and importlib.util.find_spec("shap") is None:
        plan = [p for p in plan if p[0] != "shap-partition"]
        report["skipped"] = {"shap-partition": "shap is not installed (pip install shap)"}
    results, runs = measure_all(plan, items, warm, counter, args.repeat, report["threads"], rows)
    report["results"] = results
    counter.close()

    checks = agreement_checks(report, runs, items)
    if args.reference_samples:
        print(f"reference: ours kernel-shap with {args.reference_samples} samples (untimed) ...", flush=True)
        ref = run_ours(lm, items, "kernel-shap", args.reference_samples, B, "float32", M)
        report["reference_samples"] = args.reference_samples
        for row in results:
            if row.get("method") == "kernel-shap" and row["runner"] in runs:
                row["vs_reference"] = {**rank_agreement(runs[row["runner"]], ref),
                                       "max_rel_error_median": median_rel_error(runs[row["runner"]], ref)}
    report["checks"] = checks
    report["checks_passed"] = all(c.get("passed", True) for c in checks.values())
    add_ratios(report)
    print_table(report)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")
    return report


def agreement_checks(report: dict, runs: dict[str, Run], items: list[Item]) -> dict:
    """Occlusion: max abs difference ours vs every Captum FeatureAblation run. Kernel-shap: efficiency of
    every run against the float32 reference, and Spearman of every peer (and bf16) against our float32."""
    checks: dict[str, dict] = {}
    rows = {r["runner"]: r for r in report["results"]}
    for name, run in runs.items():
        if not name.startswith("captum-fa-"):
            continue
        for ours in ("ours-occlusion", "ours-occlusion-auto"):
            if ours in runs:
                diff = max_abs_diff(runs[ours], run)
                check = {"max_abs_diff": diff}
                if ours == "ours-occlusion":
                    check.update(passed=diff <= OCCLUSION_TOL, tolerance=OCCLUSION_TOL)
                checks[f"{ours} vs {name}"] = check
                if ours == "ours-occlusion":
                    rows[name]["max_abs_diff_vs_ours"] = diff
                else:
                    rows[ours]["max_abs_diff_vs_captum_fa"] = diff
    for name in ("ours-kernel-shap", "ours-kernel-shap-auto", "captum-ks", "shap-partition"):
        if name not in runs:
            continue
        gap = efficiency_gap(runs[name], items)
        rows[name]["efficiency_gap"] = gap
        check: dict[str, Any] = {"max_gap": gap}
        if name == "ours-kernel-shap":
            check.update(passed=gap <= EFFICIENCY_TOL, tolerance=EFFICIENCY_TOL)
        checks[f"{name} efficiency"] = check
        if name != "ours-kernel-shap" and "ours-kernel-shap" in runs:
            agree = rank_agreement(runs["ours-kernel-shap"], runs[name])
            rows[name]["spearman_vs_ours"] = agree
            checks[f"ours-kernel-shap vs {name} (spearman)"] = agree
    return checks


def add_ratios(report: dict) -> None:
    """``ours_x``: our reviews/s over the fastest peer's of the same method (above 1: we are faster)."""
    for method in ("occlusion", "kernel-shap"):
        rows = [r for r in report["results"] if r.get("method") == method and r.get("ok")]
        peers = [r for r in rows if not r["runner"].startswith("ours")]
        if not peers:
            continue
        fastest = max(peers, key=lambda r: r["reviews_per_s"])
        fastest["fastest_peer"] = True
        least_cpu = min(peers, key=lambda r: r["cpu_seconds"])
        for r in rows:
            if r["runner"].startswith("ours"):
                r["ours_x"] = r["reviews_per_s"] / fastest["reviews_per_s"]
                r["vs_peer"] = fastest["runner"]
                # by CPU seconds: steadier than wall time when other jobs share the cores (--threads 1)
                r["ours_x_cpu"] = least_cpu["cpu_seconds"] / r["cpu_seconds"]
                r["vs_peer_cpu"] = least_cpu["runner"]


def fmt(x: Any, digits: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}" if abs(x) >= 10 ** -digits or x == 0 else f"{x:.1e}"
    return str(x)


def agreement_text(r: dict) -> str:
    if "max_abs_diff_vs_ours" in r:
        return f"max|d| {r['max_abs_diff_vs_ours']:.1e}"
    if "max_abs_diff_vs_captum_fa" in r:
        return f"max|d| vs captum {r['max_abs_diff_vs_captum_fa']:.1e}"
    parts = []
    if "efficiency_gap" in r:
        parts.append(f"eff gap {r['efficiency_gap']:.1e}")
    sp = r.get("spearman_vs_ours")
    if sp and sp.get("spearman_median") is not None:
        parts.append(f"rho {sp['spearman_median']:.2f} (min {sp['spearman_min']:.2f})")
    ref = r.get("vs_reference")
    if ref and ref.get("spearman_median") is not None:
        parts.append(f"vs ref: rho {ref['spearman_median']:.2f}, err {ref['max_rel_error_median']:.2f}")
    return ", ".join(parts) or "-"


def print_table(report: dict) -> None:
    head = ("method", "runner", "rev/s", "fwd/review", "rows/s", "peak MB", "work MB", "ours x", "ours x cpu",
            "agreement", "load", "cpu")
    lines = [head]
    for r in report["results"]:
        if not r.get("ok"):
            lines.append((r.get("method", ""), r["runner"], "failed: " + r.get("error", "?")[:70],
                          *[""] * (len(head) - 3)))
            continue
        name = r["runner"] + (f" ({r['dtype']})" if "dtype" in r else "") + (" *" if r.get("fastest_peer") else "")
        lines.append((r["method"], name, fmt(r["reviews_per_s"], 3), fmt(r["forwards_per_review"], 1),
                      fmt(r["rows_per_s"], 1), fmt(r["peak_rss_mb"], 0), fmt(r["work_mb"], 0),
                      fmt(r.get("ours_x"), 2), fmt(r.get("ours_x_cpu"), 2), agreement_text(r),
                      f"{r['load_avg_start']:.1f}",
                      f"{r['cpu_share']:.2f}"))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    print(f"\n{report['model']}: {report['reviews']} reviews, {report['real_tokens']} tokens "
          f"(mean {report['mean_tokens']:.0f}, max {report['max_tokens']}), {report['words']} words; "
          f"S={report['samples']}, batch {report['batch_size']}, {report['threads']} threads; * = fastest peer; "
          f"cpu = CPU seconds / (wall x threads) of the reported run")
    for name, why in (report.get("skipped") or {}).items():
        print(f"{name}: skipped, {why}")
    for line in lines:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)))
    print("checks: " + ("all passed" if report["checks_passed"] else "FAILED: " + ", ".join(
        k for k, c in report["checks"].items() if c.get("passed") is False)))


if __name__ == "__main__":
    main()

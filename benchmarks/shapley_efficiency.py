"""Sample efficiency of Shapley-value estimators: error against the exact (or a reference) Shapley
values per model evaluation, for our ``kernel-shap``, its previous estimator, shap's KernelExplainer,
shap's Partition explainer and Captum's KernelShap.

    python -m benchmarks.shapley_efficiency                      # the full run (tens of minutes the first time)
    python -m benchmarks.shapley_efficiency --quick              # a smoke run: a few small games, seconds
    python -m benchmarks.shapley_efficiency --out shapley.json --plot benchmarks/shapley_efficiency.svg

**Games.** Every estimator explains the same value function: the embedded model (``--model``), word
features, the mask-token replacement and the predicted label's probability, built by the engine's own
forward path (``benchmarks.shapley_games``), i.e. exactly what ``kernel-shap`` regresses on.

* *Short* reviews: the first ``--per-length`` snippets of ``sample_data/reviews.jsonl`` with each word
  count in ``--short-words`` (9-16 by default). Their whole table of ``2**M`` values is computed once,
  and the reference is the exact Shapley values, by enumeration.
* *Long* reviews: ``--long`` whole reviews of ``sample_data/amazon_reviews_full.jsonl`` with
  ``--long-words`` words (30-60), spread over that range. Values are computed on demand and cached per
  coalition. The reference comes from ``--reference-samples`` (20,000) coalitions of ``kernel-shap``'s
  large-budget design (stratified by size: every coalition of the outer sizes that fit, the others
  drawn without replacement, in complementary pairs; seed ``REFERENCE_SEED``, independent of the seeds
  measured): the kriging estimate over all of them (``references``). The Shapley-kernel regression on
  the same coalitions is the alternative reference, reported too: it is several times noisier (on the
  15-16-word reviews, against exact values: regression 0.002-0.013, kriging 0.0001-0.0015 relative
  error). ``--reference-check N`` computes both again from other coalitions for N long reviews: their
  differences show each reference's own error.
``--long-measured N`` measures only the first N of those long reviews (the ones a full run starts with):
a shorter run on the same reviews.

Values are cached on disk (``--cache``), so a second run costs no model evaluations.

**Estimators**, each given a budget B (``--budgets``, 32..1024) and seeds 0..``--seeds``-1:

* ``ours``: ``kernel-shap`` (``masks`` and ``attribute``, samples B, the seed, the review text as key);
* ``ours-before``: the previous estimator (shap's schedule, ``benchmarks.kernel_shap_before``);
* ``shap-kernel``: ``shap.KernelExplainer`` on the binary word-mask representation (background: every
  word removed; the explained point: every word kept), ``nsamples = B - 2`` (it adds the full and empty
  coalitions), numpy's global seed set to the seed, and ``l1_reg=False``: its default schedule without
  the feature selection its default ``l1_reg="num_features(10)"`` adds (with it, reviews of more than 10
  words get only 10 non-zero scores, far from the Shapley values);
* ``shap-partition``: ``shap.explainers.Partition`` with ``shap.maskers.Text`` given a word-level
  tokenizer (its features are our words, its hierarchy is shap's text clustering of them),
  ``max_evals = B``; deterministic, so one run per budget; it estimates Owen values, which approach
  but do not equal Shapley values, and stops asking for more evaluations once its tree is resolved;
* ``captum-kernel-shap``: Captum ``KernelShap`` on the same binary representation, ``n_samples = B``,
  ``torch.manual_seed(seed)``. It draws coalitions with replacement; it runs B forwards, but only its
  distinct coalitions are counted as evaluations here (a cache would save the repeats).

**Cost** is the number of distinct coalitions an estimator asked for (the full and empty ones
included), counted by the game (``Session``). **Error**: ``||phi - reference|| / ||reference||`` (L2 over
the words), and Spearman's rank correlation of the word scores with the reference; means over reviews
and seeds. **Evaluations to reach our error**: for each peer, the evaluations at which its mean-error
curve (log error against log evaluations, linear between measured budgets; beyond its last budget,
extended along its last segment and marked ``~``, at most ``EXTRAPOLATE`` times, else ``>``) reaches
our mean error at 64 and 128 evaluations, and that over our evaluations.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from benchmarks.shapley_games import Game, Session, default_cache_dir, shapley_from_table  # noqa: E402

ESTIMATORS = ("ours", "ours-before", "shap-kernel", "shap-partition", "captum-kernel-shap")
PEERS = ("ours-before", "shap-kernel", "shap-partition", "captum-kernel-shap")
BUDGETS = (32, 64, 128, 256, 512, 1024)
TARGETS = (64, 128)  # our budgets whose error the peers must reach
REFERENCE_SEED = 1000
EXTRAPOLATE = 8  # a curve is extended beyond its last budget at most this far
LABELS = {"ours": "ours (kriging)", "ours-before": "ours before (shap's schedule)",
          "shap-kernel": "shap KernelExplainer", "shap-partition": "shap Partition (Owen values)",
          "captum-kernel-shap": "Captum KernelShap"}


# --------------------------------------------------------------------------- estimators on a game


def run_ours(session: Session, game: Game, budget: int, seed: int) -> np.ndarray:
    from saliency_cli.methods.kernel_shap import KernelShap

    method = KernelShap()
    params = {"samples": budget, "seed": seed}
    masks = method.masks(game.m, params, game.key)
    return np.asarray(method.attribute(masks, session(masks), params, game.key).scores, dtype=np.float64)


def run_before(session: Session, game: Game, budget: int, seed: int) -> np.ndarray:
    from benchmarks.kernel_shap_before import KernelShapBefore

    method = KernelShapBefore()
    params = {"samples": budget, "seed": seed}
    masks = method.masks(game.m, params, game.key)
    return np.asarray(method.attribute(masks, session(masks), params, game.key).scores, dtype=np.float64)


def run_shap_kernel(session: Session, game: Game, budget: int, seed: int) -> np.ndarray:
    import shap

    m = game.m
    state = np.random.get_state()
    np.random.seed(seed)  # shap draws from numpy's global generator
    try:
        explainer = shap.KernelExplainer(lambda x: session(np.asarray(x) > 0.5), np.zeros((1, m)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            phi = explainer.shap_values(np.ones((1, m)), nsamples=max(1, budget - 2), l1_reg=False, silent=True)
    finally:
        np.random.set_state(state)
    return np.ravel(np.asarray(phi, dtype=np.float64))


def run_captum(session: Session, game: Game, budget: int, seed: int) -> np.ndarray:
    import torch
    from captum.attr import KernelShap

    torch.manual_seed(seed)
    explainer = KernelShap(lambda x: torch.from_numpy(session(x.detach().cpu().numpy() > 0.5)))
    m = game.m
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        attr = explainer.attribute(torch.ones(1, m, dtype=torch.float64), baselines=torch.zeros(1, m, dtype=torch.float64),
                                   n_samples=budget, perturbations_per_eval=budget)
    return attr[0].detach().double().numpy()


class WordTokenizer:
    """The minimal tokenizer ``shap.maskers.Text`` needs, whose tokens are the game's words: token ids are
    the word indices, offsets their characters (any other string: its whitespace-separated pieces)."""

    def __init__(self, text: str, spans: Sequence[tuple[int, int]]):
        self.text, self.spans = text, list(spans)

    def __call__(self, s: str, return_offsets_mapping: bool = True, **_: Any) -> dict:
        import re

        if s == self.text:
            out: dict[str, Any] = {"input_ids": list(range(len(self.spans))), "offset_mapping": list(self.spans)}
        else:
            pieces = [m.span() for m in re.finditer(r"\S+", s)]
            out = {"input_ids": [-2] * len(pieces), "offset_mapping": pieces}
        if not return_offsets_mapping:
            out.pop("offset_mapping")
        return out


def run_partition(session: Session, game: Game, budget: int, seed: int) -> np.ndarray:
    import shap

    masker = shap.maskers.Text(WordTokenizer(game.text, game.spans), mask_token=-1, collapse_mask_token=False,
                               output_type="token_ids")
    explainer = shap.explainers.Partition(lambda ids: session(np.asarray(ids) >= 0), masker)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sv = explainer([game.text], max_evals=budget, silent=True)
    return np.asarray(sv.values[0], dtype=np.float64)


RUNNERS: dict[str, Callable[[Session, Game, int, int], np.ndarray]] = {
    "ours": run_ours, "ours-before": run_before, "shap-kernel": run_shap_kernel,
    "shap-partition": run_partition, "captum-kernel-shap": run_captum,
}
DETERMINISTIC = {"shap-partition"}


# --------------------------------------------------------------------------- measures


def rel_error(phi: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(phi - ref) / np.linalg.norm(ref))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); 0 when either side is constant."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def reach(curve: Sequence[tuple[float, float]], target: float) -> tuple[float | None, str]:
    """Evaluations at which a mean-error curve [(evaluations, error)] reaches ``target`` error:
    log-log interpolation between the measured points; beyond the last one, extended along the last
    segment ('~') up to ``EXTRAPOLATE`` times its last evaluations (further: that bound, '>'); '<=' when
    its first point is already at or below the target; None if its curve stops falling."""
    pts = sorted((x, e) for x, e in curve if x > 0 and e > 0)
    if not pts:
        return None, "none"
    if pts[0][1] <= target:
        return pts[0][0], "<="
    for (x0, e0), (x1, e1) in zip(pts, pts[1:]):
        if e0 >= target >= e1 and e1 < e0:
            t = (math.log(e0) - math.log(target)) / (math.log(e0) - math.log(e1))
            return math.exp(math.log(x0) + t * (math.log(x1) - math.log(x0))), "="
    (x0, e0), (x1, e1) = pts[-2] if len(pts) > 1 else pts[-1], pts[-1]
    if len(pts) > 1 and e1 < e0 and x1 > x0:
        slope = (math.log(e1) - math.log(e0)) / (math.log(x1) - math.log(x0))
        needed = math.exp(math.log(x1) + (math.log(target) - math.log(e1)) / slope)
        if needed <= EXTRAPOLATE * x1:
            return needed, "~"
        return EXTRAPOLATE * x1, ">"
    return None, "never"


# --------------------------------------------------------------------------- games


@dataclass
class Case:
    game: Game
    reference: np.ndarray
    kind: str  # short | long
    alternative: np.ndarray | None = None  # long reviews: the regression reference on the same coalitions


def references(game: Game, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kriging, regression) estimates of a long review's Shapley values from the ``samples`` coalitions
    of ``kernel-shap``'s large-budget design (stratified by size, drawn without replacement, in
    complementary pairs; seed ``seed``): the method's own estimator over all of its pairs (beyond the
    method's ``KRIGING_PAIRS``, at the price of one solve of that size), and the Shapley-kernel regression
    the method uses at that budget."""
    from saliency_cli.methods import kernel_shap, shapley_kriging

    method = kernel_shap.KernelShap()
    masks = method.masks(game.m, {"samples": samples, "seed": seed}, game.key)
    values = game.session()(masks)
    if not (masks[2::2] == ~masks[3::2]).all():
        raise RuntimeError("the reference design is not in complementary pairs")
    x = np.where(masks[2::2], 1.0, -1.0)
    kriged = shapley_kriging.kriging(x, (values[2::2] - values[3::2]) / 2.0, float(values[0] - values[1]))
    regressed = np.asarray(method.attribute(masks, values, {"samples": samples}, game.key).scores, dtype=np.float64)
    return kriged, regressed


def spread(items: list, count: int, key: Callable[[Any], float]) -> list:
    """``count`` items spread evenly over the range of ``key`` (the first of each quantile, in input order)."""
    if len(items) <= count:
        return items
    ranked = sorted(range(len(items)), key=lambda i: (key(items[i]), i))
    picks = sorted({ranked[round(j * (len(ranked) - 1) / max(1, count - 1))] for j in range(count)})
    return [items[i] for i in picks]


def short_cases(source: Any, texts: list[str], words: range, per_length: int, cache: Path, log) -> list[Case]:
    encs = source.encodings(texts)
    by_length: dict[int, list] = {}
    for enc in encs:
        if not enc.dropped:
            by_length.setdefault(source.word_count(enc), []).append(enc)
    cases = []
    for m in words:
        for enc in by_length.get(m, [])[:per_length]:
            game = source.game(enc, cache)
            start = time.perf_counter()
            table = game.exact()
            if game.model_evaluations:
                log(f"  short, {m} words: {game.model_evaluations} coalitions run in {time.perf_counter() - start:.0f} s")
            cases.append(Case(game, shapley_from_table(table), "short"))
    return cases


def long_cases(source: Any, texts: list[str], words: range, count: int, cache: Path, samples: int,
               log, measured: int | None = None) -> list[Case]:
    """The ``count`` long reviews spread over ``words`` (the first ``measured`` of them, if given)."""
    encs = [e for e in source.encodings(texts) if not e.dropped and source.word_count(e) in words]
    cases = []
    for enc in spread(encs, count, source.word_count)[:measured]:
        game = source.game(enc, cache)
        start, before = time.perf_counter(), game.model_evaluations
        kriged, regressed = references(game, samples, REFERENCE_SEED)
        game.save()
        log(f"  long, {game.m} words: reference from {samples} coalitions ({game.model_evaluations - before} run), "
            f"{time.perf_counter() - start:.0f} s")
        cases.append(Case(game, kriged, "long", regressed))
    return cases


# --------------------------------------------------------------------------- the run


def measure(cases: list[Case], estimators: Sequence[str], budgets: Sequence[int], seeds: int, log) -> list[dict]:
    """One row per (case, estimator, budget, seed): evaluations, rows asked, error, Spearman, seconds."""
    rows = []
    for n, case in enumerate(cases):
        game = case.game
        start_evals = game.model_evaluations
        for name in estimators:
            for budget in budgets:
                for seed in range(1 if name in DETERMINISTIC else seeds):
                    session = game.session()
                    start = time.perf_counter()
                    try:
                        phi = RUNNERS[name](session, game, budget, seed)
                        error = None
                    except Exception as exc:  # noqa: BLE001 - a peer that fails is reported, not fatal
                        phi, error = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                    seconds = time.perf_counter() - start
                    row = {"kind": case.kind, "review": n, "words": game.m, "estimator": name, "budget": budget,
                           "seed": seed, "evaluations": session.evaluations, "rows": session.rows, "seconds": seconds}
                    if phi is None:
                        row["error"] = error
                    else:
                        row.update(rel_error=rel_error(phi, case.reference), spearman=spearman(phi, case.reference),
                                   efficiency_gap=abs(float(phi.sum()) - float(case.reference.sum())))
                        if case.alternative is not None:
                            row.update(rel_error_alt=rel_error(phi, case.alternative),
                                       spearman_alt=spearman(phi, case.alternative))
                    if name in DETERMINISTIC:
                        for other in range(1, seeds):
                            rows.append({**row, "seed": other})
                    rows.append(row)
        if game.model_evaluations > start_evals:
            game.save()
        log(f"  {case.kind} review {n} ({game.m} words) measured: {game.model_evaluations - start_evals} new coalitions run")
    return rows


def summarise(rows: list[dict], kinds: Sequence[str], estimators: Sequence[str], budgets: Sequence[int]) -> dict:
    """Means per (kind, estimator, budget), and the evaluations each peer needs to reach our error."""
    out: dict[str, Any] = {}
    for kind in kinds:
        table: dict[str, dict[int, dict]] = {}
        for name in estimators:
            for b in budgets:
                sel = [r for r in rows if r["kind"] == kind and r["estimator"] == name and r["budget"] == b and "rel_error" in r]
                failed = [r for r in rows if r["kind"] == kind and r["estimator"] == name and r["budget"] == b and "error" in r]
                if not sel:
                    if failed:
                        table.setdefault(name, {})[b] = {"failed": failed[0]["error"], "n": 0}
                    continue
                table.setdefault(name, {})[b] = {
                    "evaluations": float(np.mean([r["evaluations"] for r in sel])),
                    "rows": float(np.mean([r["rows"] for r in sel])),
                    "rel_error": float(np.mean([r["rel_error"] for r in sel])),
                    "rel_error_median": float(np.median([r["rel_error"] for r in sel])),
                    "spearman": float(np.mean([r["spearman"] for r in sel])),
                    "spearman_min": float(np.min([r["spearman"] for r in sel])),
                    "efficiency_gap_max": float(np.max([r["efficiency_gap"] for r in sel])),
                    "seconds": float(np.mean([r["seconds"] for r in sel])),
                    "n": len(sel),
                }
        ratios: dict[str, dict] = {}
        ours = table.get("ours", {})
        for target in TARGETS:
            if target not in ours or "rel_error" not in ours[target]:
                continue
            goal, spent = ours[target]["rel_error"], ours[target]["evaluations"]
            for name in estimators:
                if name == "ours" or name not in table:
                    continue
                curve = [(v["evaluations"], v["rel_error"]) for v in table[name].values() if "rel_error" in v]
                needed, how = reach(curve, goal)
                ratios.setdefault(name, {})[target] = {
                    "our_error": goal, "our_evaluations": spent, "evaluations": needed, "how": how,
                    "ratio": needed / spent if needed else None}
        words = sorted({r["words"] for r in rows if r["kind"] == kind})
        out[kind] = {"table": table, "ratios": ratios, "reviews": len({r["review"] for r in rows if r["kind"] == kind}),
                     "words": words}
    return out


def print_tables(summary: dict, estimators: Sequence[str], budgets: Sequence[int], log) -> None:
    for kind, part in summary.items():
        ref = "exact Shapley values" if kind == "short" else "the reference"
        log(f"\n{kind} reviews ({part['reviews']} reviews, {min(part['words'])}-{max(part['words'])} words), "
            f"against {ref}: mean relative L2 error / mean Spearman (mean evaluations)")
        head = ["estimator"] + [str(b) for b in budgets]
        lines = [head]
        for name in estimators:
            cells = [name]
            for b in budgets:
                v = part["table"].get(name, {}).get(b)
                if v is None:
                    cells.append("-")
                elif "rel_error" not in v:
                    cells.append("failed")
                else:
                    cells.append(f"{v['rel_error']:.3f} / {v['spearman']:.3f} ({v['evaluations']:.0f})")
            lines.append(cells)
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        for line in lines:
            log("  " + "  ".join(c.ljust(w) for c, w in zip(line, widths)))
        for name, per in part["ratios"].items():
            cells = []
            for target, r in per.items():
                if r["evaluations"] is None:
                    cells.append(f"at {target}: never ({r['how']})")
                else:
                    mark = {"=": "", "~": "~", "<=": "<=", ">": ">", "none": "?"}[r["how"]]
                    cells.append(f"at {target} (error {r['our_error']:.3f}): {mark}{r['evaluations']:.0f} evaluations "
                                 f"= {mark}{r['ratio']:.1f}x ours")
            log(f"  {name} needs " + "; ".join(cells))


def rule(cases: list[Case], words: int, budgets: Sequence[int], seeds: int, spearman_goal: float) -> dict:
    """Our mean Spearman (and error) against the exact values on the short reviews of ``words`` words per
    budget; the smallest budget whose mean Spearman reaches ``spearman_goal``."""
    chosen = [c for c in cases if c.kind == "short" and c.game.m == words]
    per: dict[int, dict] = {}
    for b in budgets:
        rhos, errs = [], []
        for case in chosen:
            for seed in range(seeds):
                phi = run_ours(case.game.session(), case.game, b, seed)
                rhos.append(spearman(phi, case.reference))
                errs.append(rel_error(phi, case.reference))
        if rhos:
            per[b] = {"spearman": float(np.mean(rhos)), "spearman_min": float(np.min(rhos)),
                      "rel_error": float(np.mean(errs)), "n": len(rhos)}
    best = next((b for b in sorted(per) if per[b]["spearman"] >= spearman_goal), None)
    return {"words": words, "reviews": len(chosen), "seeds": seeds, "goal": spearman_goal, "per_budget": per,
            "smallest_budget": best}


def word_range(text: str) -> range:
    lo, _, hi = text.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description="Shapley-value estimators: error per model evaluation")
    ap.add_argument("--model", default="default", help="'default' (the embedded model) or a model folder")
    ap.add_argument("--short-file", help="JSONL of short reviews (default: sample_data/reviews.jsonl)")
    ap.add_argument("--long-file", help="JSONL of long reviews (default: sample_data/amazon_reviews_full.jsonl)")
    ap.add_argument("--short-words", default="9-16", help="word counts of the short reviews (exact reference)")
    ap.add_argument("--per-length", type=int, default=3, help="short reviews per word count")
    ap.add_argument("--long-words", default="30-60", help="word counts of the long reviews")
    ap.add_argument("--long", type=int, default=6, help="long reviews (0: none)")
    ap.add_argument("--long-measured", type=int,
                    help="measure only the first N of the --long reviews (the same reviews a full run starts with)")
    ap.add_argument("--reference-samples", type=int, default=20000, help="coalitions of the long reviews' reference")
    ap.add_argument("--reference-check", type=int, default=2,
                    help="long reviews whose reference is computed twice (another seed) to measure its own error")
    ap.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--estimators", default=",".join(ESTIMATORS))
    ap.add_argument("--rule-words", type=int, default=16, help="word count of the default-samples rule")
    ap.add_argument("--rule-spearman", type=float, default=0.95, help="mean Spearman the default samples must reach")
    ap.add_argument("--rule-budgets", default="32,48,64,80,96,128,160,192,256")
    ap.add_argument("--rule-seeds", type=int, default=10)
    ap.add_argument("--cache", help="folder of the cached game values (default: ~/.cache/saliency-cli/shapley-games)")
    ap.add_argument("--out", help="write the report as JSON here")
    ap.add_argument("--plot", help="write the error-vs-evaluations plot (SVG) here")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 2 short reviews of 6-7 words, 1 long of 12-20 words (reference 600), budgets 16,32,64, 2 seeds")
    args = ap.parse_args(argv)
    if args.quick:
        args.short_words, args.per_length, args.long_words, args.long = "6-7", 1, "12-20", 1
        args.reference_samples, args.reference_check, args.budgets, args.seeds = 600, 1, "16,32,64", 2
        args.rule_words, args.rule_budgets, args.rule_seeds = 7, "16,32,64", 2

    from benchmarks import corpus
    from benchmarks.shapley_games import ReviewSource

    def log(msg: str) -> None:
        print(msg, flush=True)

    estimators = [e.strip() for e in args.estimators.split(",") if e.strip()]
    for e in estimators:
        if e not in ESTIMATORS:
            ap.error(f"unknown estimator {e!r}; choose from {', '.join(ESTIMATORS)}")
    if "ours" not in estimators:
        estimators.insert(0, "ours")
    budgets = [int(b) for b in args.budgets.split(",")]
    cache = Path(args.cache) if args.cache else default_cache_dir()
    started, load = time.perf_counter(), os.getloadavg()
    source = ReviewSource.load(None if args.model == "default" else args.model)
    log(f"{source.lm.name}: baseline {source.baseline}, F = {source.settings.attribute} of the predicted label; "
        f"cache {cache}")
    short_texts = [r.text for r in corpus.load_corpus("short", 100000, path=args.short_file)]
    cases = short_cases(source, short_texts, word_range(args.short_words), args.per_length, cache, log)
    if args.long:
        long_texts = [r.text for r in corpus.load_corpus("long", 100000, path=args.long_file)]
        cases += long_cases(source, long_texts, word_range(args.long_words), args.long, cache, args.reference_samples, log,
                            args.long_measured)
    log(f"{sum(c.kind == 'short' for c in cases)} short and {sum(c.kind == 'long' for c in cases)} long reviews; "
        f"budgets {budgets}, {args.seeds} seeds")

    check = []
    for case in [c for c in cases if c.kind == "long"][: args.reference_check]:
        kriged, regressed = references(case.game, args.reference_samples, REFERENCE_SEED + 1)
        case.game.save()
        check.append({"words": case.game.m, "rel_difference": rel_error(kriged, case.reference),
                      "spearman": spearman(kriged, case.reference),
                      "regression_rel_difference": rel_error(regressed, case.alternative),
                      "regression_spearman": spearman(regressed, case.alternative)})
    rows = measure(cases, estimators, budgets, args.seeds, log)
    kinds = [k for k in ("short", "long") if any(c.kind == k for c in cases)]
    summary = summarise(rows, kinds, estimators, budgets)
    print_tables(summary, estimators, budgets, log)
    alternative = {}
    if "long" in kinds:
        swapped = [{**r, "rel_error": r["rel_error_alt"], "spearman": r["spearman_alt"], "kind": "long"}
                   for r in rows if r["kind"] == "long" and "rel_error_alt" in r]
        alternative = summarise(swapped, ["long"], estimators, budgets)
        log("\nthe same long reviews against the regression estimate from the same reference coalitions "
            "(noisier: see the check below)")
        print_tables({"long (regression reference)": alternative["long"]}, estimators, budgets, log)
    if check:
        log("\nreference check (long reviews, a second reference from other coalitions, another seed): "
            + ", ".join(f"{c['words']} words: relative L2 difference {c['rel_difference']:.4f}, Spearman "
                        f"{c['spearman']:.4f} (regression references: {c['regression_rel_difference']:.4f}, "
                        f"{c['regression_spearman']:.4f})" for c in check)
            + "; each reference's own error is about the difference / sqrt(2)")
    rule_budgets = [int(b) for b in args.rule_budgets.split(",")]
    default_rule = rule(cases, args.rule_words, rule_budgets, args.rule_seeds, args.rule_spearman)
    if default_rule["per_budget"]:
        log(f"\ndefault-samples rule: ours on the {default_rule['reviews']} short reviews of {args.rule_words} words, "
            f"{args.rule_seeds} seeds: mean Spearman (min) / mean error per budget: "
            + ", ".join(f"{b}: {v['spearman']:.3f} ({v['spearman_min']:.3f}) / {v['rel_error']:.3f}"
                        for b, v in default_rule["per_budget"].items())
            + f"; smallest budget with mean Spearman >= {args.rule_spearman}: {default_rule['smallest_budget']}")
    import torch

    versions = {"torch": torch.__version__}
    for lib in ("shap", "captum", "transformers", "numpy"):
        try:
            versions[lib] = __import__(lib).__version__
        except ImportError:
            versions[lib] = None
    report = {
        "model": source.lm.name, "baseline": source.baseline, "attribute": source.settings.attribute,
        "budgets": budgets, "seeds": args.seeds, "estimators": estimators,
        "short_words": args.short_words, "per_length": args.per_length, "long_words": args.long_words,
        "long_measured": args.long_measured,
        "reference_samples": args.reference_samples, "reference_seed": REFERENCE_SEED, "reference_check": check,
        "reviews": [{"kind": c.kind, "words": c.game.m, "label": c.game.label, "text": c.game.text} for c in cases],
        "summary": summary, "summary_long_regression_reference": alternative.get("long"),
        "default_rule": default_rule, "rows": rows, "versions": versions,
        "load_avg_start": list(load), "load_avg_end": list(os.getloadavg()),
        "seconds": time.perf_counter() - started,
    }
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
        log(f"wrote {args.out}")
    if args.plot:
        Path(args.plot).write_text(plot_svg(summary, estimators))
        log(f"wrote {args.plot}")
    return report


# --------------------------------------------------------------------------- the plot


COLOURS = {"ours": "#d62728", "ours-before": "#ff9896", "shap-kernel": "#1f77b4", "shap-partition": "#2ca02c",
           "captum-kernel-shap": "#9467bd"}


def plot_svg(summary: dict, estimators: Sequence[str], width: int = 460, height: int = 340) -> str:
    """Mean relative error against mean evaluations, log-log, one panel per review kind (no dependencies)."""
    panels = list(summary.items())
    left, right, top, bottom = 58, 12, 34, 46
    total_w = width * len(panels)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height + 70}" '
           f'font-family="sans-serif" font-size="11">', f'<rect width="{total_w}" height="{height + 70}" fill="white"/>']
    points = [(v["evaluations"], v["rel_error"]) for _, part in panels for t in part["table"].values()
              for v in t.values() if "rel_error" in v and v["evaluations"] > 0 and v["rel_error"] > 0]
    if not points:
        return "\n".join(out + ["</svg>"])
    x_lo, x_hi = min(p[0] for p in points), max(p[0] for p in points)
    y_lo, y_hi = min(p[1] for p in points), max(p[1] for p in points)
    lx0, lx1 = math.floor(math.log2(x_lo)), math.ceil(math.log2(x_hi))
    ly0, ly1 = math.floor(math.log10(y_lo)), math.ceil(math.log10(y_hi))
    for k, (kind, part) in enumerate(panels):
        ox = k * width
        pw, ph = width - left - right, height - top - bottom

        def px(x: float) -> float:
            return ox + left + (math.log2(x) - lx0) / max(1e-9, lx1 - lx0) * pw

        def py(y: float) -> float:
            return top + (ly1 - math.log10(y)) / max(1e-9, ly1 - ly0) * ph

        ref = "exact Shapley values" if kind == "short" else "20,000-coalition reference"
        words = f"{min(part['words'])}-{max(part['words'])} words"
        out.append(f'<text x="{ox + left + pw / 2}" y="18" text-anchor="middle" font-size="12">'
                   f'{kind} reviews ({words}) vs {ref}</text>')
        out.append(f'<rect x="{ox + left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
        for e in range(lx0, lx1 + 1):
            x = px(2.0**e)
            out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#ddd"/>')
            out.append(f'<text x="{x:.1f}" y="{top + ph + 14}" text-anchor="middle">{2 ** e}</text>')
        for e in range(ly0, ly1 + 1):
            for mant in (1, 2, 5):
                y = mant * 10.0**e
                if not (10.0**ly0 <= y <= 10.0**ly1):
                    continue
                yy = py(y)
                out.append(f'<line x1="{ox + left}" y1="{yy:.1f}" x2="{ox + left + pw}" y2="{yy:.1f}" '
                           f'stroke="{"#ccc" if mant == 1 else "#eee"}"/>')
                out.append(f'<text x="{ox + left - 4}" y="{yy + 4:.1f}" text-anchor="end">{y:g}</text>')
        out.append(f'<text x="{ox + left + pw / 2}" y="{top + ph + 32}" text-anchor="middle">'
                   f'model evaluations per review (distinct coalitions)</text>')
        out.append(f'<text x="{ox + 14}" y="{top + ph / 2}" text-anchor="middle" '
                   f'transform="rotate(-90 {ox + 14} {top + ph / 2})">mean relative L2 error</text>')
        for name in estimators:
            pts = sorted((v["evaluations"], v["rel_error"]) for v in part["table"].get(name, {}).values()
                         if "rel_error" in v and v["evaluations"] > 0 and v["rel_error"] > 0)
            if not pts:
                continue
            colour = COLOURS.get(name, "#333")
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
            dash = ' stroke-dasharray="4 3"' if name == "ours-before" else ""
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
            for x, y in pts:
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.8" fill="{colour}"/>')
    for i, name in enumerate(estimators):
        x, y = 20 + (i % 3) * 300, height + 14 + (i // 3) * 18
        colour = COLOURS.get(name, "#333")
        out.append(f'<line x1="{x}" y1="{y}" x2="{x + 22}" y2="{y}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{x + 28}" y="{y + 4}">{LABELS.get(name, name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


if __name__ == "__main__":
    main()

"""Batched attribution engine: reviews in, explanations out, in input order. No file I/O here.

Reviews are read in windows, sorted by token length and cut into batches padded to their own
longest member. Every (review, target) item of a method needs ``n`` gradient evaluations (IG
steps, SmoothGrad samples); the rows of all items in a batch are packed into chunks sized to a
memory budget and each chunk costs one forward and one backward pass. Per-row gradients are
reduced to per-token scores straight away, so memory holds [items, tokens], not gradients.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import torch

from saliency_cli.aggregate import NORMALIZATIONS, apply_normalization, build_scores, stitch_windows
from saliency_cli.methods import Method, get_method
from saliency_cli.model import LoadedModel
from saliency_cli.records import Explanation, Prediction, Review, RowError, Target

ATTRIBUTES = ("probability", "logit")
DTYPES = ("auto", "float32", "bfloat16", "float16")
LONG_TEXT = ("truncate", "window")
DEFAULT_CPU_BUDGET = 512 << 20  # bytes of activations per chunk on CPU (keeps peak RSS under 2 GB)


@dataclass(frozen=True)
class MethodRun:
    """A method with its resolved parameters (what is recorded in ``params``)."""

    method: Method
    params: Mapping[str, Any]


@dataclass(frozen=True)
class EngineSettings:
    """Everything the engine needs besides the model and the reviews."""

    methods: tuple[MethodRun, ...]
    targets: tuple[str, ...] = ("predicted",)
    attribute: str = "probability"
    normalization: str = "none"
    batch_size: int = 16
    max_memory: int | None = None
    window: int | None = None
    long_text: str = "truncate"
    window_overlap: int | None = None
    dtype: str = "float32"


@dataclass(frozen=True)
class Encoded:
    """One tokenised review, or one window of a long review (``--long-text window``)."""

    review: Review
    input_ids: list[int]
    token_type_ids: list[int] | None
    offsets: list[tuple[int, int]]
    special: list[bool]
    word_ids: list[int | None]
    dropped: int
    n_windows: int = 1
    forced_probs: tuple[float, ...] | None = None

    @property
    def length(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class Outcome:
    """The explanations of one review (one per method x target), in settings order."""

    review: Review
    explanations: list[Explanation] = field(default_factory=list)
    truncated: bool = False


def method_params(
    *,
    steps: int | None = None,
    baseline: str | None = None,
    ig_rule: str | None = None,
    ig_tolerance: float | None = None,
    ig_max_steps: int | None = None,
    samples: int | None = None,
    noise: float | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """The user's method options (CLI / API names) keyed by the methods' parameter names; None = default."""
    return {"steps": steps, "baseline": baseline, "rule": ig_rule, "tolerance": ig_tolerance,
            "max_steps": ig_max_steps, "samples": samples, "noise": noise, "seed": seed}


def make_settings(
    methods: Sequence[str],
    *,
    params: Mapping[str, Any] | None = None,
    targets: Sequence[str] = ("predicted",),
    attribute: str = "probability",
    normalization: str = "none",
    batch_size: int = 16,
    max_memory: int | None = None,
    long_text: str = "truncate",
    window_overlap: int | None = None,
    dtype: str = "float32",
) -> EngineSettings:
    """Validate user choices and resolve each method's parameters (raises ValueError)."""
    if not methods:
        raise ValueError("at least one method is needed")
    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown --attribute {attribute!r}; choose from {', '.join(ATTRIBUTES)}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown --normalize {normalization!r}; choose from {', '.join(NORMALIZATIONS)}")
    if batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    if dtype not in DTYPES:
        raise ValueError(f"unknown --dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    if long_text not in LONG_TEXT:
        raise ValueError(f"unknown --long-text {long_text!r}; choose from {', '.join(LONG_TEXT)}")
    if window_overlap is not None and window_overlap < 0:
        raise ValueError("--window-overlap must be non-negative")
    if max_memory is not None and max_memory < (1 << 20):
        raise ValueError("--max-memory must be at least 1 MB")
    given = dict(params or {})
    runs: list[MethodRun] = []
    seen: set[str] = set()
    for name in methods:
        m = get_method(name)
        if m.name in seen:
            continue
        seen.add(m.name)
        own = {p.name: given.get(p.name) for p in m.params}
        runs.append(MethodRun(m, m.resolve(own)))
    return EngineSettings(
        methods=tuple(runs),
        targets=tuple(targets) or ("predicted",),
        attribute=attribute,
        normalization=normalization,
        batch_size=batch_size,
        max_memory=max_memory,
        long_text=long_text,
        window_overlap=window_overlap,
        dtype=dtype,
    )


def check_targets(lm: LoadedModel, targets: Sequence[str]) -> None:
    """Fail early (ValueError) on a target that is not predicted, all, a label name or an index."""
    for t in targets:
        if t.strip().lower() not in {"predicted", "all"}:
            lm.label_index(t)


def encode(
    lm: LoadedModel, reviews: Sequence[Review], long_text: str = "truncate", overlap: int | None = None
) -> list[list[Encoded] | RowError]:
    """Tokenise reviews: each becomes one Encoded (truncated to the model limit, dropped tokens
    counted) or, with ``long_text="window"``, overlapping windows that cover the whole text."""
    tok = lm.tokenizer
    out: list[list[Encoded] | RowError] = []
    texts = [r.text for r in reviews]
    if not texts:
        return out
    common = dict(truncation=True, max_length=lm.max_length, return_offsets_mapping=True, return_special_tokens_mask=True)
    enc = tok(texts, **common)
    for i, review in enumerate(reviews):
        special = [bool(s) for s in enc["special_tokens_mask"][i]]
        if all(special):
            out.append(RowError(review.row, review.id, "the tokenizer produced no tokens for this text"))
            continue
        dropped = 0
        if len(special) >= lm.max_length:
            full = len(tok(review.text, add_special_tokens=False)["input_ids"])
            dropped = max(0, full - (len(special) - sum(special)))
        if dropped and long_text == "window":
            content = lm.max_length - sum(special)
            stride = overlap if overlap is not None else content // 4
            if stride >= content:
                raise ValueError(f"--window-overlap must be below {content} tokens for this model")
            windows = tok(review.text, stride=stride, return_overflowing_tokens=True, **common)
            n = len(windows["input_ids"])
            out.append([_encoded(review, windows, w, 0, n) for w in range(n)])
        else:
            out.append([_encoded(review, enc, i, dropped, 1)])
    return out


def _encoded(review: Review, enc: Any, i: int, dropped: int, n_windows: int) -> Encoded:
    tt = enc["token_type_ids"][i] if "token_type_ids" in enc else None
    return Encoded(
        review=review,
        input_ids=list(enc["input_ids"][i]),
        token_type_ids=list(tt) if tt is not None else None,
        offsets=[(int(a), int(b)) for a, b in enc["offset_mapping"][i]],
        special=[bool(s) for s in enc["special_tokens_mask"][i]],
        word_ids=list(enc.word_ids(i)),
        dropped=dropped,
        n_windows=n_windows,
    )


def _score_fn(lm: LoadedModel):
    cfg = lm.model.config
    multi = len(lm.labels) == 1 or getattr(cfg, "problem_type", None) == "multi_label_classification"
    return torch.sigmoid if multi else (lambda z: torch.softmax(z, dim=-1))


def _shape(config: Any) -> tuple[int, int, int]:
    """(hidden size, attention heads, layers) of a transformer config, BERT-base's where unset."""
    return (
        int(getattr(config, "hidden_size", 768) or 768),
        int(getattr(config, "num_attention_heads", 12) or 12),
        int(getattr(config, "num_hidden_layers", 12) or 12),
    )


def activation_bytes_per_row(config: Any, length: int, attention: str | None = None) -> int:
    """Estimated activation memory of one row's forward+backward in float32.

    Per token and layer about 2 x 34 x hidden bytes are kept for the backward pass (Korthikanti
    et al. 2022, doubled for fp32; 40 here for headroom); eager attention also keeps about
    5 x heads x length scores per token, which fused (SDPA / flash) attention does not.
    Checked against measured peaks on CPU (BERT-base and MiniLM, 128-483 tokens). ``attention``
    names the kernel the chunk will run with (default: the model's).
    """
    hidden, heads, layers = _shape(config)
    attention = attention or getattr(config, "_attn_implementation", "eager")
    fused = attention in {"sdpa", "flash_attention_2", "flex_attention"}
    per_token_layer = 2 * (40 * hidden + (0 if fused else 5 * heads * length))
    return max(1, layers * length * per_token_layer + 16 * length * hidden)


def memory_budget(lm: LoadedModel, max_memory: int | None) -> int:
    """Bytes of activations one chunk may use: the user's budget, else a device-based default."""
    if max_memory is not None:
        return max_memory
    if lm.device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(lm.device)
        return int(free * 0.5)
    return DEFAULT_CPU_BUDGET


class _Batch:
    """Padded tensors of one batch of encoded reviews, on the model's device."""

    def __init__(self, lm: LoadedModel, encs: Sequence[Encoded]):
        self.encs = encs
        n, length = len(encs), max(e.length for e in encs)
        pad_id = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
        ids = torch.full((n, length), pad_id, dtype=torch.long)
        mask = torch.zeros((n, length), dtype=torch.long)
        special = torch.zeros((n, length), dtype=torch.bool)
        tt = torch.zeros((n, length), dtype=torch.long) if encs[0].token_type_ids is not None else None
        for i, e in enumerate(encs):
            ids[i, : e.length] = torch.tensor(e.input_ids)
            mask[i, : e.length] = 1
            special[i, : e.length] = torch.tensor(e.special)
            if tt is not None:
                tt[i, : e.length] = torch.tensor(e.token_type_ids)
        dev = lm.device
        self.ids, self.mask, self.special = ids.to(dev), mask.to(dev), special.to(dev)
        self.token_type_ids = tt.to(dev) if tt is not None else None
        self.lengths = torch.tensor([e.length for e in encs])
        self.length = length

    def model_kwargs(self, rows: torch.Tensor | None = None, length: int | None = None) -> dict[str, torch.Tensor]:
        cut = slice(None) if length is None else slice(0, length)
        sel = (lambda t: t[:, cut]) if rows is None else (lambda t: t[rows, cut])
        kw = {"attention_mask": sel(self.mask)}
        if self.token_type_ids is not None:
            kw["token_type_ids"] = sel(self.token_type_ids)
        return kw


def _baseline_ids(lm: LoadedModel, batch: _Batch, kind: str) -> torch.Tensor | None:
    tok = lm.tokenizer
    if kind == "zero":
        return None
    token_id = tok.pad_token_id if kind == "pad" else tok.mask_token_id
    if token_id is None:
        raise ValueError(f"the tokenizer of {lm.name!r} has no {kind} token; use another --baseline")
    return torch.where(batch.special | (batch.mask == 0), batch.ids, torch.full_like(batch.ids, token_id))


def _baseline_embeddings(lm: LoadedModel, batch: _Batch, emb: torch.Tensor, kind: str) -> torch.Tensor:
    """Embeddings at the start of the IG path: special tokens and padding stay as they are."""
    ids = _baseline_ids(lm, batch, kind)
    if ids is None:
        keep = (batch.special | (batch.mask == 0)).unsqueeze(-1)
        return torch.where(keep, emb, torch.zeros_like(emb))
    return lm.model.get_input_embeddings()(ids)


def _resolve_targets(lm: LoadedModel, targets: Sequence[str], predicted: int) -> list[int]:
    out: list[int] = []
    for t in targets:
        key = t.strip().lower()
        if key == "predicted":
            idx = [predicted]
        elif key == "all":
            idx = list(range(len(lm.labels)))
        else:
            idx = [lm.label_index(t)]
        out.extend(i for i in idx if i not in out)
    return out


def _padded(lists: Sequence[Sequence[int]], device: torch.device) -> torch.Tensor:
    """[len(lists), longest] long tensor of the lists, -1 where a list is shorter."""
    out = torch.full((len(lists), max(map(len, lists))), -1, dtype=torch.long)
    for i, values in enumerate(lists):
        out[i, : len(values)] = torch.tensor(values, dtype=torch.long)
    return out.to(device)


def _grads_per_target(
    out: torch.Tensor, x: torch.Tensor, slot_target: torch.Tensor
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """One backward per target slot on one forward graph: yields (slot j, rows that have a j-th
    target, d sum(out[row, target]) / dx). ``slot_target[row, j]`` is a label index or -1."""
    used = int((slot_target >= 0).sum(1).max())
    for j in range(used):
        sel = (slot_target[:, j] >= 0).nonzero().view(-1)
        picked = out[sel].gather(1, slot_target[sel, j].view(-1, 1)).sum()
        (grad,) = torch.autograd.grad(picked, x, retain_graph=j < used - 1)
        yield j, sel, grad


def _run_method(
    lm: LoadedModel,
    batch: _Batch,
    emb: torch.Tensor,
    base: torch.Tensor | None,
    run: MethodRun,
    items: list[tuple[int, int]],
    settings: EngineSettings,
    budget: int,
) -> torch.Tensor:
    """Per-token scores [len(items), L] of one method for (batch row, target) items.

    Rows (review x point) are packed into chunks that fit the memory budget; each chunk is cut to
    the longest review in it, so short reviews do not pay for the batch's longest one. All targets
    of a review share the forward pass of each point: one backward per target on the same graph
    (``--target all`` costs 1 forward + 5 backwards per point instead of 5 of each).
    """
    method, params = run.method, run.params
    plan = method.plan(params)
    n_points = len(plan.weights)
    weights = torch.tensor(plan.weights, dtype=torch.float32, device=lm.device)
    of_review: dict[int, list[int]] = {}  # review -> its items, in item order
    for i, (b, _) in enumerate(items):
        of_review.setdefault(b, []).append(i)
    order = list(of_review)
    slot_item = _padded([of_review[b] for b in order], lm.device)  # [review, j]: its j-th target's item
    item_t = torch.tensor([t for _, t in items], device=lm.device)
    rev_b = torch.tensor(order, device=lm.device)
    rev_len = batch.lengths[rev_b.cpu()]
    total = len(order) * n_points
    acc = torch.zeros((len(items), batch.length), dtype=torch.float32, device=lm.device)
    score = _score_fn(lm)
    texts = [e.review.text for e in batch.encs]
    row_bytes = lambda length: _row_bytes(lm, settings.dtype, length)  # noqa: E731
    longest = lambda a, b: int(rev_len[a // n_points : (b - 1) // n_points + 1].max())  # noqa: E731
    cap = total
    start = 0
    while start < total:
        n = max(1, min(cap, budget // row_bytes(int(rev_len[start // n_points]))))
        n = max(1, min(n, budget // row_bytes(longest(start, min(total, start + n)))))
        stop = min(total, start + n)
        length = longest(start, stop)
        rows = torch.arange(start, stop, device=lm.device)
        rr, ks = rows // n_points, rows % n_points
        bb = rev_b[rr]
        e = emb[bb, :length]
        b0 = base[bb, :length] if base is not None else None
        mask = batch.mask[bb, :length].float()
        found: list[tuple[torch.Tensor, torch.Tensor]] = []
        try:
            x = method.points(e, b0, ks, plan, params, [texts[int(b)] for b in bb.tolist()], batch.lengths[bb.cpu()])
            x = x.detach().requires_grad_(True)
            with _precision(lm, settings.dtype, length):
                logits = lm.model(inputs_embeds=x, **batch.model_kwargs(bb, length)).logits
            out = score(logits.float()) if settings.attribute == "probability" else logits.float()
            slots = slot_item[rr]
            for j, sel, grad in _grads_per_target(out, x, torch.where(slots >= 0, item_t[slots.clamp(min=0)], -1)):
                item = slots[sel, j]
                per = method.reduce(grad[sel], e[sel], b0[sel] if b0 is not None else None) * mask[sel]
                found.append((item, per * weights[ks[sel]].view(-1, 1)))
        except torch.OutOfMemoryError:
            if n == 1:
                raise
            cap = max(1, n // 2)
            if lm.device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        for item, contribution in found:  # only once every target of the chunk is through
            acc[:, :length].index_add_(0, item, contribution)
        start = stop
    return acc


def resolve_dtype(spec: str, device: torch.device) -> str:
    """``auto`` picks bfloat16 where the hardware runs it natively (CUDA with bf16, CPUs with
    AVX512-BF16 or AMX), else float32; explicit choices are checked against the device."""
    spec = (spec or "float32").lower()
    if spec not in DTYPES:
        raise ValueError(f"unknown --dtype {spec!r}; choose from {', '.join(DTYPES)}")
    if spec == "auto":
        if device.type == "cuda":
            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        if device.type == "cpu" and _cpu_has_fast_bf16():
            return "bfloat16"
        return "float32"
    if spec == "float16" and device.type == "cpu":
        raise ValueError("--dtype float16 is not supported on CPU; use bfloat16 or float32")
    return spec


def _cpu_has_fast_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


# Eager attention is used under bf16 on CPU while heads x length <= this x hidden^2 (see attention_for).
EAGER_ATTENTION_RATIO = 0.025


def attention_for(lm: LoadedModel, dtype: str, length: int) -> str:
    """The attention kernel a chunk of ``length`` tokens runs with.

    On CPU, PyTorch's fused SDPA kernel is slower in bfloat16 than in float32 (its backward about
    2x), so under bf16 autocast plain (eager) attention, whose matmuls run in bf16, is faster
    until the per-token score work (heads x length) grows large next to the projections
    (hidden^2): measured 1.1-2x faster up to 256 tokens on MiniLM (hidden 384) and up to 512 on
    BERT-base, slower beyond ~300 tokens on MiniLM. Elsewhere the model's own choice stands.
    """
    current = getattr(lm.model.config, "_attn_implementation", None) or "eager"
    if lm.device.type != "cpu" or dtype == "float32" or current != "sdpa":
        return current
    hidden, heads, _ = _shape(lm.model.config)
    return "eager" if heads * length <= EAGER_ATTENTION_RATIO * hidden * hidden else current


@contextlib.contextmanager
def _precision(lm: LoadedModel, dtype: str, length: int) -> Iterator[None]:
    """Mixed precision for the model's matmuls (inputs, gradients and sums stay float32) and the
    attention kernel that is fastest for it (``attention_for``), restored afterwards."""
    if dtype == "float32":
        yield
        return
    current = getattr(lm.model.config, "_attn_implementation", None)
    wanted = attention_for(lm, dtype, length)
    switch = wanted != current and hasattr(lm.model, "set_attn_implementation")
    if switch:
        try:
            lm.model.set_attn_implementation(wanted)
        except (ValueError, ImportError, AttributeError):  # a model that cannot switch keeps its own
            switch = False
    try:
        with torch.autocast(device_type=lm.device.type, dtype=getattr(torch, dtype)):
            yield
    finally:
        if switch:
            lm.model.set_attn_implementation(current)


def _row_bytes(lm: LoadedModel, dtype: str, length: int) -> int:
    return activation_bytes_per_row(lm.model.config, length, attention_for(lm, dtype, length))


def _in_chunks(lm: LoadedModel, total: int, step: int, work: Callable[[int, int], None]) -> None:
    """Run ``work(start, stop)`` over rows [0, total) in chunks of ``step``; out of memory halves the chunk."""
    start = 0
    while start < total:
        stop = min(total, start + step)
        try:
            work(start, stop)
        except torch.OutOfMemoryError:
            if stop - start == 1:
                raise
            step = max(1, (stop - start) // 2)
            if lm.device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        start = stop


def _rows_per_chunk(lm: LoadedModel, dtype: str, length: int, budget: int) -> int:
    return max(1, budget // _row_bytes(lm, dtype, length))


def _input_pass(
    lm: LoadedModel, batch: _Batch, emb: torch.Tensor, settings: EngineSettings, shared: list[MethodRun], budget: int
) -> tuple[
    list[list[float]], torch.Tensor, list[int], list[list[int]], dict[tuple[str, int, int], torch.Tensor]
]:
    """One forward pass at the input gives the prediction, the targets, and (when methods that
    need only the gradient at the input are asked for) one backward per target serves them all."""
    score = _score_fn(lm)
    n = len(batch.encs)
    probs_rows: list[list[float]] = [[] for _ in range(n)]
    values = torch.zeros((n, len(lm.labels)), dtype=torch.float32)
    targets: list[list[int]] = [[] for _ in range(n)]
    shared_scores: dict[tuple[str, int, int], torch.Tensor] = {}
    def work(start: int, stop: int) -> None:
        rows = torch.arange(start, stop, device=lm.device)
        length = int(batch.lengths[rows.cpu()].max())
        x = emb[rows, :length].detach().requires_grad_(bool(shared))
        with torch.set_grad_enabled(bool(shared)), _precision(lm, settings.dtype, length):
            logits = lm.model(inputs_embeds=x, **batch.model_kwargs(rows, length)).logits
        out = score(logits.float())
        picked_from = out if settings.attribute == "probability" else logits.float()
        values[rows.cpu()] = picked_from.detach().cpu()
        for r, p in zip(rows.tolist(), out.detach().cpu().tolist()):
            forced = batch.encs[r].forced_probs  # a window of a long review: the review's mean prediction
            probs_rows[r] = list(forced) if forced is not None else p
            predicted = max(range(len(probs_rows[r])), key=probs_rows[r].__getitem__)
            targets[r] = _resolve_targets(lm, settings.targets, predicted)
        if not shared:
            return
        slot_target = _padded([targets[r] for r in rows.tolist()], lm.device)
        mask = batch.mask[rows, :length].float()
        for j, sel, grad in _grads_per_target(picked_from, x, slot_target):
            for run in shared:
                per = (run.method.reduce(grad[sel], x[sel].detach(), None) * mask[sel]).cpu()
                for k, i in enumerate(sel.tolist()):
                    shared_scores[(run.method.name, int(rows[i]), int(slot_target[i, j]))] = per[k]

    _in_chunks(lm, n, _rows_per_chunk(lm, settings.dtype, batch.length, budget), work)
    predicted_all = [max(range(len(p)), key=p.__getitem__) for p in probs_rows]
    return probs_rows, values, predicted_all, targets, shared_scores


def _explain_batch(lm: LoadedModel, encs: Sequence[Encoded], settings: EngineSettings, budget: int) -> list[Outcome]:
    batch = _Batch(lm, encs)
    with torch.no_grad():
        emb = lm.model.get_input_embeddings()(batch.ids)
    shared = [r for r in settings.methods if r.method.at_input]
    probs_cpu, values_cpu, predicted, targets, shared_scores = _input_pass(lm, batch, emb, settings, shared, budget)
    items = [(b, t) for b, ts in enumerate(targets) for t in ts]
    per_method: list[tuple[MethodRun, torch.Tensor, torch.Tensor | None]] = []
    for run in settings.methods:
        if run.method.at_input:
            scores = torch.zeros((len(items), batch.length), dtype=torch.float32)
            for i, (b, t) in enumerate(items):
                row = shared_scores[(run.method.name, b, t)]
                scores[i, : row.shape[0]] = row
            per_method.append((run, scores, None))
            continue
        base = None
        base_values = None
        if run.method.plan(run.params).needs_baseline:
            with torch.no_grad():
                base = _baseline_embeddings(lm, batch, emb, run.params["baseline"])
                base_values = _forward_values(lm, batch, base, settings, budget)
        scores = _run_method(lm, batch, emb, base, run, items, settings, budget).cpu()
        per_method.append((run, scores, base_values))

    outcomes: list[Outcome] = []
    item_index = {item: i for i, item in enumerate(items)}
    for b, enc in enumerate(encs):
        review = enc.review
        prediction = Prediction(
            label=lm.labels[predicted[b]],
            index=predicted[b],
            probs={label: float(p) for label, p in zip(lm.labels, probs_cpu[b])},
        )
        tokens = lm.tokenizer.convert_ids_to_tokens(enc.input_ids)
        starts = [a for a, _ in enc.offsets]
        ends = [z for _, z in enc.offsets]
        explanations = []
        for run, scores, base_values in per_method:
            for t in targets[b]:
                raw = scores[item_index[(b, t)], : enc.length].tolist()
                delta = None
                if base_values is not None:
                    delta = float(sum(raw) - (float(values_cpu[b, t]) - float(base_values[b, t])))
                tok_records, word_records = build_scores(
                    review.text, tokens, raw, starts, ends, enc.special, enc.word_ids, "none"
                )
                explanations.append(
                    Explanation(
                        id=review.id,
                        row=review.row,
                        text=review.text,
                        model=lm.name,
                        method=run.method.name,
                        params=dict(run.params),
                        attribute=settings.attribute,
                        prediction=prediction,
                        target=Target(lm.labels[t], t),
                        tokens=tok_records,
                        words=word_records,
                        truncated=enc.dropped > 0,
                        dropped_tokens=enc.dropped,
                        delta=delta,
                        windows=enc.n_windows,
                    )
                )
        outcomes.append(Outcome(review=review, explanations=explanations, truncated=enc.dropped > 0))
    return outcomes


def _forward_values(
    lm: LoadedModel, batch: _Batch, embeds: torch.Tensor, settings: EngineSettings, budget: int
) -> torch.Tensor:
    """The explained output (probabilities or logits) for every label, without gradients, in chunks."""
    score = _score_fn(lm)
    out = torch.zeros((len(batch.encs), len(lm.labels)), dtype=torch.float32)

    def work(start: int, stop: int) -> None:
        rows = torch.arange(start, stop, device=lm.device)
        with torch.no_grad(), _precision(lm, settings.dtype, batch.length):
            logits = lm.model(inputs_embeds=embeds[rows], **batch.model_kwargs(rows)).logits.float()
        out[start:stop] = (score(logits) if settings.attribute == "probability" else logits).cpu()

    _in_chunks(lm, len(batch.encs), _rows_per_chunk(lm, settings.dtype, batch.length, budget), work)
    return out


def _explain_one(lm: LoadedModel, enc: Encoded, settings: EngineSettings, budget: int) -> Outcome | RowError:
    try:
        return _explain_batch(lm, [enc], settings, budget)[0]
    except (RuntimeError, ValueError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return RowError(enc.review.row, enc.review.id, f"model failed on this row: {first}")


def explain_stream(
    lm: LoadedModel,
    reviews: Iterable[Review | RowError],
    settings: EngineSettings,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[Outcome | RowError]:
    """Explain a stream of reviews; yields one Outcome or RowError per input item, in input order.

    Row errors from the reader pass through in place. At most ``settings.window`` reviews
    (default 8 x batch size) are held at once, so memory does not grow with the input. When
    ``should_stop()`` turns true, the window in progress is finished and yielded, then it stops.
    """
    check_targets(lm, settings.targets)
    settings = replace(settings, dtype=resolve_dtype(settings.dtype, lm.device))
    budget = memory_budget(lm, settings.max_memory)
    window = settings.window or settings.batch_size * 8
    pending: list[Review | RowError] = []
    for item in reviews:
        if not pending and should_stop():
            return
        pending.append(item)
        if len(pending) >= window:
            yield from _explain_window(lm, pending, settings, budget)
            pending = []
    if pending:
        yield from _explain_window(lm, pending, settings, budget)


def _mean_prediction(lm: LoadedModel, windows: list[Encoded], settings: EngineSettings, budget: int) -> list[Encoded]:
    """Give every window of a long review the review's prediction: the mean of the windows' probabilities."""
    batch = _Batch(lm, windows)
    with torch.no_grad():
        emb = lm.model.get_input_embeddings()(batch.ids)
    probs = _forward_values(lm, batch, emb, settings, budget)
    mean = tuple(float(p) for p in probs.mean(0))
    return [replace(w, forced_probs=mean) for w in windows]


def _finish(outcomes: list[Outcome], normalization: str) -> Outcome:
    """Stitch the windows of a long review (if any) and apply the normalisation view."""
    first = outcomes[0]
    if len(outcomes) == 1:
        explanations = first.explanations
    else:
        explanations = [stitch_windows(list(group)) for group in zip(*(o.explanations for o in outcomes))]
    return Outcome(
        review=first.review,
        explanations=[apply_normalization(e, normalization) for e in explanations],
        truncated=first.truncated,
    )


def needs_more_steps(e: Explanation, tolerance: float) -> bool:
    """Whether an IG explanation's completeness gap exceeds ``tolerance`` of F(x) - F(baseline)."""
    if e.delta is None:
        return False
    change = sum(t.score for t in e.tokens) - e.delta
    return abs(e.delta) > tolerance * abs(change)


def _batches(
    lm: LoadedModel, flat: list[tuple[int, int, Encoded]], batch_size: int, budget: int
) -> Iterator[list[tuple[int, int, Encoded]]]:
    """Consecutive groups of at most ``batch_size`` encoded reviews, cut earlier where the batch's
    own tensors (input and baseline embeddings, float32, at its longest length) would pass an eighth
    of the memory budget, so that a large --batch-size of long reviews cannot outgrow it (BERT-base,
    512 MB: up to 20 reviews of 512 tokens, 266 of 40)."""
    hidden, _, _ = _shape(lm.model.config)
    group: list[tuple[int, int, Encoded]] = []
    longest = 0
    for item in flat:
        length = max(longest, item[2].length)
        if group and (len(group) >= batch_size or (len(group) + 1) * length * hidden * 8 > budget // 8):
            yield group
            group, length = [], item[2].length
        group.append(item)
        longest = length
    if group:
        yield group


def _refine_integrated_gradients(
    lm: LoadedModel,
    parts: dict[int, list[Outcome | None]],
    flat: list[tuple[int, int, Encoded]],
    results: dict[int, Outcome | RowError],
    settings: EngineSettings,
    budget: int,
) -> None:
    """Adaptive IG (``tolerance`` set): redo the items whose delta is too large with twice the steps."""
    runs = [r for r in settings.methods if r.method.name == "integrated-gradients" and r.params.get("tolerance")]
    for run in runs:
        tol, steps = float(run.params["tolerance"]), int(run.params["steps"])
        pending = [(pos, w, enc) for pos, w, enc in flat if pos not in results]
        while pending and steps < int(run.params["max_steps"]):
            pending = [
                (pos, w, enc) for pos, w, enc in pending
                if any(e.method == run.method.name and needs_more_steps(e, tol) for e in parts[pos][w].explanations)
            ]
            steps = min(2 * steps, int(run.params["max_steps"]))
            finer = replace(settings, methods=(MethodRun(run.method, {**run.params, "steps": steps}),))
            for group in _batches(lm, pending, settings.batch_size, budget):
                for (pos, w, _), redo in zip(group, _explain_batch(lm, [e for _, _, e in group], finer, budget)):
                    by_target = {e.target.index: e for e in redo.explanations}
                    old = parts[pos][w]
                    parts[pos][w] = replace(old, explanations=[
                        by_target[e.target.index] if e.method == run.method.name else e for e in old.explanations
                    ])


def _explain_window(
    lm: LoadedModel, items: list[Review | RowError], settings: EngineSettings, budget: int
) -> Iterator[Outcome | RowError]:
    reviews = [(i, it) for i, it in enumerate(items) if isinstance(it, Review)]
    results: dict[int, Outcome | RowError] = {i: it for i, it in enumerate(items) if isinstance(it, RowError)}
    parts: dict[int, list[Outcome | None]] = {}
    flat: list[tuple[int, int, Encoded]] = []
    for (pos, _), enc in zip(reviews, encode(lm, [r for _, r in reviews], settings.long_text, settings.window_overlap)):
        if isinstance(enc, RowError):
            results[pos] = enc
            continue
        probability = replace(settings, attribute="probability")
        windows = _mean_prediction(lm, enc, probability, budget) if len(enc) > 1 else enc
        parts[pos] = [None] * len(windows)
        flat.extend((pos, w, e) for w, e in enumerate(windows))
    flat.sort(key=lambda item: item[2].length)
    for group in _batches(lm, flat, settings.batch_size, budget):
        try:
            outcomes = _explain_batch(lm, [e for _, _, e in group], settings, budget)
        except (RuntimeError, ValueError, IndexError):
            # One bad row must not sink its batch: redo the batch row by row and report the culprit.
            outcomes = [_explain_one(lm, enc, settings, budget) for _, _, enc in group]
        for (pos, w, _), outcome in zip(group, outcomes):
            if isinstance(outcome, RowError):
                results[pos] = outcome
            elif pos not in results:
                parts[pos][w] = outcome
    _refine_integrated_gradients(lm, parts, flat, results, settings, budget)
    for pos, done in parts.items():
        if pos not in results:
            results[pos] = _finish(done, settings.normalization)
    for i in range(len(items)):
        yield results[i]


def explain_reviews(lm: LoadedModel, reviews: Iterable[Review], settings: EngineSettings) -> list[Explanation]:
    """Explain reviews in memory; raises ValueError on the first row that cannot be explained."""
    out: list[Explanation] = []
    for res in explain_stream(lm, reviews, settings):
        if isinstance(res, RowError):
            raise ValueError(f"row {res.row} (id {res.id}): {res.error}")
        out.extend(res.explanations)
    return out

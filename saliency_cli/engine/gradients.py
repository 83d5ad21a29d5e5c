"""The gradient family's passes: the input pass (prediction, targets, and the methods that need the
gradient at the input only) and the path pass (methods that need gradients at many points)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import torch

from saliency_cli.engine.budget import plan_chunks, planned, run_in_chunks
from saliency_cli.engine.precision import precision, row_bytes, rows_per_chunk
from saliency_cli.engine.targets import argmax, explained, probabilities, resolve_targets
from saliency_cli.engine.tensors import Padded, padded_lists
from saliency_cli.model.loading import LoadedModel
from saliency_cli.settings import MethodRun, Settings


@dataclass
class InputPass:
    """What one forward at the input gives for each row of a group."""

    probs: list[list[float]]  # label probabilities (the review's own for a window of a long review)
    values: torch.Tensor  # [rows, labels] explained output F at the input, float32, CPU
    targets: list[list[int]]
    scores: dict[tuple[str, int, int], torch.Tensor]  # (method, row, target) -> [length] for at-input methods


def grads_per_target(
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


def input_pass(
    lm: LoadedModel,
    batch: Padded,
    emb: torch.Tensor,
    settings: Settings,
    shared: Sequence[MethodRun],
    budget: int,
    known: Mapping[int, tuple[list[float], torch.Tensor]] | None = None,
) -> InputPass:
    """One forward pass at the input gives the prediction, the targets, and (when methods that need
    only the gradient at the input are asked for) one backward per target serves them all.

    ``known`` holds rows whose probabilities and F values were already computed (the windows of a
    long review, whose prediction is the mean over its windows): they skip this forward unless an
    at-input method needs their gradient.
    """
    known = known or {}
    probs_of, value_of = probabilities(lm), explained(lm, settings.attribute)
    n = len(batch.encs)
    result = InputPass([[] for _ in range(n)], torch.zeros((n, len(lm.labels))), [[] for _ in range(n)], {})
    for r, (p, v) in known.items():
        result.probs[r], result.values[r] = list(p), v
        result.targets[r] = resolve_targets(lm, settings.targets, argmax(p))
    need = torch.tensor([r for r in range(n) if shared or r not in known], dtype=torch.long)

    def work(start: int, stop: int) -> None:
        rows = need[start:stop].to(lm.device)
        length = int(batch.lengths[rows.cpu()].max())
        x = emb[rows, :length].detach().requires_grad_(bool(shared))
        with torch.set_grad_enabled(bool(shared)), precision(lm, settings.dtype, length) as model:
            logits = model(inputs_embeds=x, **batch.model_kwargs(rows, length)).logits
        out = probs_of(logits.float())
        picked_from = value_of(logits.float())
        for r, p, v in zip(rows.tolist(), out.detach().cpu().tolist(), picked_from.detach().cpu()):
            if r not in known:
                result.probs[r], result.values[r] = p, v
                result.targets[r] = resolve_targets(lm, settings.targets, argmax(p))
        if not shared:
            return
        slot_target = padded_lists([result.targets[r] for r in rows.tolist()], lm.device)
        mask = batch.mask[rows, :length].float()
        for j, sel, grad in grads_per_target(picked_from, x, slot_target):
            for run in shared:
                per = (run.method.reduce(grad[sel], x[sel].detach(), None) * mask[sel]).cpu()
                for k, i in enumerate(sel.tolist()):
                    result.scores[(run.method.name, int(rows[i]), int(slot_target[i, j]))] = per[k]

    if len(need):
        ends = plan_chunks(batch.lengths[need].tolist(), lambda n: rows_per_chunk(lm, settings.dtype, n, budget))
        lengths = batch.lengths[need].tolist()
        passes = 1 + (max(map(len, result.targets)) if shared else 0)
        run_in_chunks(lm, len(need), planned(ends), work, cost=lambda a, b: passes * sum(lengths[a:b]))
    return result


def baseline_embeddings(lm: LoadedModel, batch: Padded, emb: torch.Tensor, kind: str) -> torch.Tensor:
    """Embeddings at the start of an IG path: special tokens and padding stay as they are, every
    other token becomes [PAD] (``pad``), [MASK] (``mask``) or the zero vector (``zero``)."""
    keep = batch.special | (batch.mask == 0)
    if kind == "zero":
        return torch.where(keep.unsqueeze(-1), emb, torch.zeros_like(emb))
    token_id = lm.tokenizer.pad_token_id if kind == "pad" else lm.tokenizer.mask_token_id
    if token_id is None:
        raise ValueError(f"the tokenizer of {lm.name!r} has no {kind} token; choose another baseline")
    return lm.model.get_input_embeddings()(torch.where(keep, batch.ids, torch.full_like(batch.ids, token_id)))


def forward_values(lm: LoadedModel, batch: Padded, embeds: torch.Tensor, settings: Settings, budget: int) -> torch.Tensor:
    """The explained output for every label at ``embeds``, without gradients, in chunks: [rows, labels]."""
    value_of = explained(lm, settings.attribute)
    out = torch.zeros((len(batch.encs), len(lm.labels)), dtype=torch.float32)

    def work(start: int, stop: int) -> None:
        rows = torch.arange(start, stop, device=lm.device)
        length = int(batch.lengths[start:stop].max())
        with torch.no_grad(), precision(lm, settings.dtype, length) as model:
            logits = model(inputs_embeds=embeds[rows, :length], **batch.model_kwargs(rows, length)).logits.float()
        out[start:stop] = value_of(logits).cpu()

    ends = plan_chunks(batch.lengths.tolist(), lambda n: rows_per_chunk(lm, settings.dtype, n, budget))
    lengths = batch.lengths.tolist()
    run_in_chunks(lm, len(batch.encs), planned(ends), work, cost=lambda a, b: sum(lengths[a:b]))
    return out


def path_pass(
    lm: LoadedModel,
    batch: Padded,
    emb: torch.Tensor,
    base: torch.Tensor | None,
    run: MethodRun,
    items: list[tuple[int, int]],
    settings: Settings,
    budget: int,
) -> torch.Tensor:
    """Per-token scores [len(items), L] of one gradient method for (batch row, target) items.

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
    slot_item = padded_lists([of_review[b] for b in order], lm.device)  # [review, j]: its j-th target's item
    item_t = torch.tensor([t for _, t in items], device=lm.device)
    rev_b = torch.tensor(order, device=lm.device)
    rev_len = batch.lengths[rev_b.cpu()]
    total = len(order) * n_points
    acc = torch.zeros((len(items), batch.length), dtype=torch.float32, device=lm.device)
    value_of = explained(lm, settings.attribute)
    texts = [e.review.text for e in batch.encs]

    row_len = [int(n) for n in rev_len.tolist() for _ in range(n_points)]
    ends = plan_chunks(row_len, lambda n: max(1, budget // row_bytes(lm, settings.dtype, n)))

    def work(start: int, stop: int) -> None:
        length = max(row_len[start:stop])
        rows = torch.arange(start, stop, device=lm.device)
        rr, ks = rows // n_points, rows % n_points
        bb = rev_b[rr]
        e = emb[bb, :length]
        b0 = base[bb, :length] if base is not None else None
        mask = batch.mask[bb, :length].float()
        x = method.points(e, b0, ks, plan, params, [texts[int(b)] for b in bb.tolist()], batch.lengths[bb.cpu()])
        x = x.detach().requires_grad_(True)
        with precision(lm, settings.dtype, length) as model:
            logits = model(inputs_embeds=x, **batch.model_kwargs(bb, length)).logits
        out = value_of(logits.float())
        slots = slot_item[rr]
        found: list[tuple[torch.Tensor, torch.Tensor]] = []
        for j, sel, grad in grads_per_target(out, x, torch.where(slots >= 0, item_t[slots.clamp(min=0)], -1)):
            per = method.reduce(grad[sel], e[sel], b0[sel] if b0 is not None else None) * mask[sel]
            found.append((slots[sel, j], per * weights[ks[sel]].view(-1, 1)))
        for item, contribution in found:  # only once every target of the chunk is through
            acc[:, :length].index_add_(0, item, contribution)

    passes = 1 + max(len(v) for v in of_review.values())
    run_in_chunks(lm, total, planned(ends), work, cost=lambda a, b: passes * sum(row_len[a:b]))
    return acc

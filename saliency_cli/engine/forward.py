"""The forward-only family's executor: perturbed copies of many reviews, packed into batches by
length under the memory budget and run without gradients; every copy's output for every label.

A perturbation method (occlusion, KernelSHAP, LIME, and the faithfulness metrics to come) only
says which features each copy keeps. Here those masks become token ids (the ``baseline`` rule says
what a removed feature becomes, ``delete`` drops its tokens), identical copies of one review are run
once, and one forward gives every label, so several targets and methods share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from saliency_cli.engine.budget import inference_rows, plan_chunks, planned, run_in_chunks
from saliency_cli.engine.encoding import Encoded
from saliency_cli.engine.precision import precision
from saliency_cli.engine.targets import explained
from saliency_cli.engine.tensors import pad_id
from saliency_cli.model.loading import LoadedModel
from saliency_cli.settings import Settings

REPLACEMENT_ORDER = ("mask", "unk", "pad")  # the default replacement, and its fallbacks


def replacement_id(lm: LoadedModel, kind: str) -> int | None:
    """Token id a removed feature becomes (None for ``delete``); ValueError if the tokenizer has none."""
    if kind == "delete":
        return None
    token_id = getattr(lm.tokenizer, f"{kind}_token_id", None)
    if token_id is None:
        raise ValueError(f"the tokenizer of {lm.name!r} has no {kind} token; choose another baseline")
    return int(token_id)


def default_replacement(lm: LoadedModel) -> str:
    """The tokenizer's mask token, else its unknown token, else padding."""
    for kind in REPLACEMENT_ORDER:
        if getattr(lm.tokenizer, f"{kind}_token_id", None) is not None:
            return kind
    return "delete"


@dataclass(frozen=True)
class Copies:
    """The perturbed copies one review needs: ``masks[i]`` keeps feature f where True."""

    enc: Encoded
    features: Sequence[Sequence[int]]  # token positions of each feature
    masks: np.ndarray
    baseline: str


def perturbed(lm: LoadedModel, c: Copies, keep: np.ndarray) -> tuple[list[int], list[int] | None]:
    """Token ids (and token types) of one copy of ``c.enc`` keeping the features where ``keep`` is True."""
    ids = list(c.enc.input_ids)
    types = list(c.enc.token_type_ids) if c.enc.token_type_ids is not None else None
    dropped = [pos for f, positions in enumerate(c.features) if not keep[f] for pos in positions]
    token_id = replacement_id(lm, c.baseline)
    if token_id is not None:
        for pos in dropped:
            ids[pos] = token_id
        return ids, types
    gone = set(dropped)
    return [t for i, t in enumerate(ids) if i not in gone], (
        [t for i, t in enumerate(types) if i not in gone] if types is not None else None
    )


def run_copies(lm: LoadedModel, requests: Sequence[Copies], settings: Settings, budget: int) -> list[np.ndarray]:
    """F for every label on every copy of every request: one float64 array [copies, labels] per request.

    Identical copies of one review (the same ids) are run once, whichever request asked for them.
    """
    unique: dict[tuple[int, ...], int] = {}
    inputs: list[tuple[list[int], list[int] | None]] = []
    where: list[list[int]] = []
    for req_index, c in enumerate(requests):
        rows = []
        for keep in c.masks:
            ids, types = perturbed(lm, c, keep)
            key = (id(c.enc), *ids)
            if key not in unique:
                unique[key] = len(inputs)
                inputs.append((ids, types))
            rows.append(unique[key])
        where.append(rows)
    values = _forward(lm, inputs, settings, budget)
    return [values[rows] for rows in where]


def _forward(
    lm: LoadedModel, inputs: Sequence[tuple[list[int], list[int] | None]], settings: Settings, budget: int
) -> np.ndarray:
    """[len(inputs), labels] float64 outputs; inputs run sorted by length, in chunks planned to waste
    little padding (``budget.plan_chunks``), each padded to its longest."""
    out = np.zeros((len(inputs), len(lm.labels)), dtype=np.float64)
    if not inputs:
        return out
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i][0]))
    lengths = [len(inputs[i][0]) for i in order]
    value_of = explained(lm, settings.attribute)
    ends = plan_chunks(lengths, lambda n: inference_rows(lm, n, budget))

    def work(start: int, stop: int) -> None:
        chosen = order[start:stop]
        length = lengths[stop - 1]
        ids = torch.full((len(chosen), length), pad_id(lm), dtype=torch.long)
        mask = torch.zeros((len(chosen), length), dtype=torch.long)
        has_types = inputs[chosen[0]][1] is not None
        types = torch.zeros((len(chosen), length), dtype=torch.long) if has_types else None
        for r, i in enumerate(chosen):
            seq, tt = inputs[i]
            ids[r, : len(seq)] = torch.tensor(seq)
            mask[r, : len(seq)] = 1
            if types is not None and tt is not None:
                types[r, : len(seq)] = torch.tensor(tt)
        kwargs = {"attention_mask": mask.to(lm.device)}
        if types is not None:
            kwargs["token_type_ids"] = types.to(lm.device)
        with torch.inference_mode(), precision(lm, settings.dtype, length) as model:
            logits = model(input_ids=ids.to(lm.device), **kwargs).logits.float()
        out[chosen] = value_of(logits).cpu().double().numpy()

    run_in_chunks(lm, len(order), planned(ends), work, cost=lambda a, b: sum(lengths[a:b]))
    return out

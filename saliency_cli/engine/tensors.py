"""Padded tensors of a group of encoded reviews on the model's device."""

from __future__ import annotations

from typing import Sequence

import torch

from saliency_cli.engine.encoding import Encoded
from saliency_cli.model.loading import LoadedModel


def pad_id(lm: LoadedModel) -> int:
    return lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0


class Padded:
    """Ids, attention mask, special-token mask and token types of a group, padded to its longest member."""

    def __init__(self, lm: LoadedModel, encs: Sequence[Encoded]):
        self.encs = encs
        n, length = len(encs), max(e.length for e in encs)
        ids = torch.full((n, length), pad_id(lm), dtype=torch.long)
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
        """Attention mask (and token types) of ``rows`` (all by default), cut to ``length`` tokens."""
        cut = slice(None) if length is None else slice(0, length)
        sel = (lambda t: t[:, cut]) if rows is None else (lambda t: t[rows, cut])
        kw = {"attention_mask": sel(self.mask)}
        if self.token_type_ids is not None:
            kw["token_type_ids"] = sel(self.token_type_ids)
        return kw


def padded_lists(lists: Sequence[Sequence[int]], device: torch.device) -> torch.Tensor:
    """[len(lists), longest] long tensor of the lists, -1 where a list is shorter."""
    out = torch.full((len(lists), max(map(len, lists))), -1, dtype=torch.long)
    for i, values in enumerate(lists):
        out[i, : len(values)] = torch.tensor(values, dtype=torch.long)
    return out.to(device)

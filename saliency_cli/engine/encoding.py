"""Tokenise reviews for the engine: truncation with a count of dropped tokens, or overlapping
windows that cover a long review (``long_text="window"``), and the features perturbation methods remove."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from saliency_cli.model.loading import LoadedModel
from saliency_cli.records import Review, RowError


@dataclass(frozen=True)
class Encoded:
    """One tokenised review, or one window of a long review."""

    review: Review
    input_ids: list[int]
    token_type_ids: list[int] | None
    offsets: list[tuple[int, int]]
    special: list[bool]
    word_ids: list[int | None]
    dropped: int
    n_windows: int = 1

    @property
    def length(self) -> int:
        return len(self.input_ids)


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
                raise ValueError(f"the window overlap must be below {content} tokens for this model")
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


def features(enc: Encoded, unit: str) -> list[list[int]]:
    """Token positions of each feature a perturbation method removes: the non-special tokens of each
    word (``unit="word"``, sub-words move together) or each non-special token on its own."""
    groups: list[list[int]] = []
    current: int | None = None
    for pos, (sp, wid) in enumerate(zip(enc.special, enc.word_ids)):
        if sp:
            current = None
            continue
        if unit == "word" and wid is not None and wid == current and groups:
            groups[-1].append(pos)
        else:
            groups.append([pos])
            current = wid
    return groups

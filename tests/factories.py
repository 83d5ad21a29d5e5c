"""Build Explanation records directly (no model) for the report and preview tests, and sharpened tiny models."""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from saliency_cli.records import Explanation, Prediction, Target, TokenScore, WordScore

WORD_RE = re.compile(r"\w+|[^\w\s]+")


def make_explanation(
    id: str,
    text: str,
    scores: Sequence[float] | None = None,
    *,
    method: str = "integrated_gradients",
    label: str = "positive",
    probs: Mapping[str, float] | None = None,
    target: str | None = None,
    model: str = "test/tiny-sentiment",
    params: Mapping[str, object] | None = None,
    delta: float | None = None,
    truncated: bool = False,
    normalization: str = "none",
    row: int | None = 1,
) -> Explanation:
    """An explanation whose words are the regex words of ``text``; a word of 6+ chars is split into two tokens."""
    if probs is None:
        other = "negative" if label == "positive" else "positive"
        probs = {label: 0.9, other: 0.1}
    probs = dict(probs)
    labels = list(probs)
    spans = [(m.start(), m.end()) for m in WORD_RE.finditer(text)]
    if scores is None:
        scores = [((i * 7) % 11 - 5) / 10 for i in range(len(spans))]
    if len(scores) != len(spans):
        raise ValueError(f"{len(spans)} words but {len(scores)} scores")
    tokens = [TokenScore("[CLS]", 0, 0, 0.0, True)]
    words = []
    for (start, end), score in zip(spans, scores):
        word = text[start:end]
        words.append(WordScore(word, start, end, float(score)))
        if len(word) >= 6:
            mid = start + 3
            tokens.append(TokenScore(text[start:mid].lower(), start, mid, score * 0.75, False))
            tokens.append(TokenScore("##" + text[mid:end].lower(), mid, end, score * 0.25, False))
        else:
            tokens.append(TokenScore(word.lower(), start, end, float(score), False))
    tokens.append(TokenScore("[SEP]", 0, 0, 0.0, True))
    target = target or label
    return Explanation(
        id=id,
        text=text,
        model=model,
        method=method,
        params=dict(params or ({"steps": 32, "baseline": "pad"} if method == "integrated_gradients" else {})),
        prediction=Prediction(label, labels.index(label), probs),
        target=Target(target, labels.index(target)),
        tokens=tuple(tokens),
        words=tuple(words),
        normalization=normalization,
        truncated=truncated,
        dropped_tokens=7 if truncated else 0,
        delta=delta,
        row=row,
    )


def assert_batch_invariant(lm, method: str, texts, options, sizes=(1, 3, 16), tol: float = 2e-6, extra=lambda e: []):
    """Every batch size, and each review alone, gives the same scores (and ``extra(e)`` values) for all targets."""
    import pytest

    from saliency_cli.runners.local import explain_reviews
    from saliency_cli.inputs import texts_to_reviews
    from saliency_cli.settings import make_settings

    reviews = texts_to_reviews(texts)
    settings = {bs: make_settings([method], options=options, target=["all"], batch_size=bs) for bs in sizes}
    runs = {bs: {(e.id, e.target.index): [t.score for t in e.tokens] + extra(e) for e in explain_reviews(lm, reviews, s)}
            for bs, s in settings.items()}
    ref = runs[sizes[-1]]
    assert len(ref) == len(texts) * len(lm.labels)
    for bs in sizes[:-1]:
        assert runs[bs].keys() == ref.keys()
        for key, scores in ref.items():
            assert runs[bs][key] == pytest.approx(scores, abs=tol)
    for review in reviews:
        for e in explain_reviews(lm, [review], settings[sizes[-1]]):
            assert [t.score for t in e.tokens] + extra(e) == pytest.approx(ref[(review.id, e.target.index)], abs=tol)


def method_rows(stdout: str) -> dict[str, str]:
    """The ``methods`` table as {method: aliases cell}, from the first line of each table row."""
    rows: dict[str, str] = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("\u2502")]
        if len(cells) > 3 and cells[1]:
            rows.setdefault(cells[1], cells[2])
    return rows


def sharpened(lm, factor: float = 10.0):
    """A copy of a tiny model with every linear weight times ``factor``: random weights (std 0.02) leave
    its outputs almost constant; sharpened ones move with the text (the original is left alone)."""
    import copy

    import torch

    model = copy.deepcopy(lm.model)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.mul_(factor)
    return lm.with_model(model)


def cli_process(*args, **kw):
    """``python -m saliency_cli ARGS`` as a child process (offline, unbuffered), for signals and kill -9."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "saliency_cli", *map(str, args)], env=env, **kw)


def wait_for_lines(path, n: int, proc, timeout: float = 300.0) -> bytes:
    """Wait until the run ``proc`` has written ``n`` whole lines to ``path``; fail if it ends first. The
    timeout only keeps a broken run from hanging the suite: nothing is asserted about time."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        data = path.read_bytes() if path.exists() else b""
        if data.count(b"\n") >= n:
            return data
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before writing {n} lines to {path}"
        assert time.monotonic() < deadline, f"{path} did not get {n} lines"
        time.sleep(0.02)


def ig_inputs(lm, text: str, baseline: str = "pad"):
    """(embeddings, baseline embeddings, attention mask) of one review, built independently of the
    engine: non-special tokens replaced by [PAD] or [MASK], or their embeddings by zeros."""
    import torch

    enc = lm.tokenizer(text, return_tensors="pt", return_special_tokens_mask=True)
    ids, special = enc["input_ids"], enc["special_tokens_mask"].bool()
    emb_layer = lm.model.get_input_embeddings()
    with torch.no_grad():
        emb = emb_layer(ids)
        if baseline == "zero":
            base = torch.where(special.unsqueeze(-1), emb, torch.zeros_like(emb))
        else:
            fill = lm.tokenizer.pad_token_id if baseline == "pad" else lm.tokenizer.mask_token_id
            base = emb_layer(torch.where(special, ids, torch.full_like(ids, fill)))
    return emb, base, enc["attention_mask"]

"""Word-coalition games of real reviews for the Shapley sample-efficiency benchmark.

A *game* is one review's value function over coalitions of its words: ``v(S)`` is the explained
output (the predicted label's probability, by default) of the copy of the review that keeps the
words in ``S`` and replaces the others. The copies are built and run by the engine's own forward
path (``engine.forward.run_copies``: word features, the ``baseline`` replacement rule, the model's
output for every label), so ``v`` is exactly the value function ``kernel-shap`` regresses on.

* Short reviews: the whole table of ``2**M`` values is computed once (``Game.exact``), and exact
  Shapley values follow by enumeration (``shapley_from_table``).
* Long reviews: values are computed on demand and cached per coalition (``Game`` without a table).

Values are cached on disk (one ``.npz`` per review, keyed by the model, the text and the rule), so a
second run of the benchmark costs no model evaluations. Estimators query a game through a
``Session``, which counts the distinct coalitions they ask for: that count is an estimator's cost.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

MAX_WORDS = 62  # coalitions are coded as uint64 bit masks


def codes_of(masks: np.ndarray) -> np.ndarray:
    """uint64 code of each boolean row (bit ``j`` set when word ``j`` is kept)."""
    masks = np.asarray(masks, dtype=bool)
    if masks.shape[1] > MAX_WORDS:
        raise ValueError(f"at most {MAX_WORDS} words per game")
    weights = np.left_shift(np.uint64(1), np.arange(masks.shape[1], dtype=np.uint64))
    return (masks.astype(np.uint64) * weights).sum(1, dtype=np.uint64)


def masks_of(codes: np.ndarray, m: int) -> np.ndarray:
    """Boolean rows [len(codes), m] of uint64 codes (inverse of ``codes_of``)."""
    codes = np.asarray(codes, dtype=np.uint64)
    return ((codes[:, None] >> np.arange(m, dtype=np.uint64)) & np.uint64(1)).astype(bool)


def shapley_from_table(table: np.ndarray) -> np.ndarray:
    """Exact Shapley values of a game given as ``table[code]`` for all ``2**M`` coalitions."""
    n = len(table)
    m = n.bit_length() - 1
    if n != 1 << m:
        raise ValueError("the table must hold 2**M values")
    codes = np.arange(n, dtype=np.int64)
    size = np.zeros(n, dtype=np.int64)
    for j in range(m):
        size += (codes >> j) & 1
    # weight of a coalition S (without i) in i's marginal: |S|! (M - |S| - 1)! / M!
    weight = np.array([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) if s < m else 0.0
                       for s in range(m + 1)])
    phi = np.zeros(m)
    for i in range(m):
        without = codes[((codes >> i) & 1) == 0]
        phi[i] = float(np.sum(weight[size[without]] * (table[without | (1 << i)] - table[without])))
    return phi


@dataclass
class Game:
    """One review's word-coalition game (see the module docstring)."""

    key: str  # the review's text from its first word: the seed key ``kernel-shap`` uses
    words: list[str]
    target: int  # the predicted label (argmax of F(x))
    label: str
    model: Callable[[np.ndarray], np.ndarray] | None = None  # masks -> values of the target (no cache)
    cache_path: Path | None = None
    values: dict[int, float] = field(default_factory=dict)
    table: np.ndarray | None = None
    model_evaluations: int = 0  # coalitions this process ran through the model
    model_seconds: float = 0.0
    spans: list[tuple[int, int]] | None = None  # each word's characters in ``key``

    @property
    def text(self) -> str:
        return self.key

    @property
    def m(self) -> int:
        return len(self.words)

    def evaluate(self, masks: np.ndarray) -> np.ndarray:
        """v on each row of ``masks`` (from the table or the cache; new coalitions run on the model)."""
        masks = np.asarray(masks, dtype=bool).reshape(-1, self.m)
        codes = codes_of(masks)
        if self.table is not None:
            return self.table[codes.astype(np.int64)]
        new = sorted({int(c) for c in codes if int(c) not in self.values})
        if new:
            if self.model is None:
                raise RuntimeError("this game has no model to evaluate new coalitions")
            start = time.perf_counter()
            out = self.model(masks_of(np.array(new, dtype=np.uint64), self.m))
            self.model_seconds += time.perf_counter() - start
            self.model_evaluations += len(new)
            self.values.update(zip(new, map(float, out)))
        return np.array([self.values[int(c)] for c in codes])

    def exact(self, chunk: int = 8192, save_every: float = 60.0) -> np.ndarray:
        """The table of all ``2**M`` values (computed in chunks, saved as it goes, resumed from the cache)."""
        if self.table is None:
            n = 1 << self.m
            last = time.perf_counter()
            for start in range(0, n, chunk):
                codes = np.arange(start, min(n, start + chunk), dtype=np.uint64)
                if all(int(c) in self.values for c in codes):
                    continue
                self.evaluate(masks_of(codes, self.m))
                if self.cache_path is not None and time.perf_counter() - last > save_every:
                    self.save()
                    last = time.perf_counter()
            self.table = np.array([self.values[c] for c in range(n)])
            self.save()
        return self.table

    def session(self) -> "Session":
        return Session(self)

    def save(self) -> None:
        if self.cache_path is None:
            return
        codes = np.array(sorted(self.values), dtype=np.uint64)
        vals = np.array([self.values[int(c)] for c in codes])
        tmp = self.cache_path.with_name(self.cache_path.name + ".tmp.npz")
        np.savez_compressed(tmp, codes=codes, values=vals, target=self.target, words=np.array(self.words, dtype=object))
        tmp.replace(self.cache_path)


class Session:
    """One estimator's view of a game: values on demand, and the distinct coalitions it asked for."""

    def __init__(self, game: Game):
        self.game = game
        self.asked: set[int] = set()
        self.rows = 0  # rows asked, repeats included

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks, dtype=bool).reshape(-1, self.game.m)
        self.asked.update(int(c) for c in codes_of(masks))
        self.rows += len(masks)
        return self.game.evaluate(masks)

    @property
    def evaluations(self) -> int:
        return len(self.asked)


# --------------------------------------------------------------------------- games of a real model


@dataclass
class ReviewSource:
    """A loaded model and the engine context that turn word masks into the target's values."""

    lm: Any
    settings: Any
    budget: int
    baseline: str

    @classmethod
    def load(cls, model: str | None = None, baseline: str | None = None, attribute: str = "probability",
             max_memory: int | None = None) -> "ReviewSource":
        from saliency_cli import load_model
        from saliency_cli.engine import prepare
        from saliency_cli.settings import make_settings

        lm = load_model(model, device="cpu")
        options = {"baseline": baseline} if baseline else {}
        ctx = prepare(lm, make_settings(["kernel-shap"], options=options, attribute=attribute, max_memory=max_memory))
        run = ctx.settings.methods[0]
        return cls(lm, ctx.settings, ctx.budget, run.params["baseline"])

    def encodings(self, texts: Sequence[str]) -> list[Any]:
        from saliency_cli.engine.encoding import encode
        from saliency_cli.records import Review

        reviews = [Review(id=str(i), text=t, row=i + 1) for i, t in enumerate(texts)]
        return [e[0] for e in encode(self.lm, reviews)]

    def word_count(self, enc: Any) -> int:
        from saliency_cli.engine.encoding import features

        return len(features(enc, "word"))

    def game(self, enc: Any, cache_dir: Path | None = None) -> Game:
        """The game of one encoded review (its cached values loaded, if any)."""
        from saliency_cli.engine import forward
        from saliency_cli.engine.encoding import features

        if enc.dropped:
            raise ValueError("the review is longer than the model's limit")
        feats = features(enc, "word")
        text = enc.review.text
        start = enc.offsets[feats[0][0]][0]
        key = text[start:]  # as the engine keys a review's seed
        spans = [(enc.offsets[f[0]][0] - start, enc.offsets[f[-1]][1] - start) for f in feats]
        words = [key[a:b] for a, b in spans]

        def outputs(masks: np.ndarray) -> np.ndarray:
            copies = forward.Copies(enc, feats, np.asarray(masks, dtype=bool), self.baseline)
            return forward.run_copies(self.lm, [copies], self.settings, self.budget)[0]

        path = None
        if cache_dir is not None:
            ident = "\x1f".join([self.lm.name, self.baseline, self.settings.attribute, self.settings.dtype, text])
            digest = hashlib.blake2b(ident.encode("utf-8"), digest_size=10).hexdigest()
            path = Path(cache_dir) / f"{digest}.npz"
        values: dict[int, float] = {}
        if path is not None and path.is_file():
            data = np.load(path, allow_pickle=True)
            target = int(data["target"])
            values = dict(zip(map(int, data["codes"]), map(float, data["values"])))
        else:
            full = outputs(np.ones((1, len(feats)), dtype=bool))[0]
            target = int(np.argmax(full))
            values[(1 << len(feats)) - 1] = float(full[target])
        game = Game(key, words, target, self.lm.labels[target], lambda masks: outputs(masks)[:, target], path, values,
                    spans=spans)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            game.save()
        return game


def default_cache_dir() -> Path:
    import os

    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "saliency-cli" / "shapley-games"

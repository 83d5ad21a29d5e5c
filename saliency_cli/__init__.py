"""saliency-cli: explain transformer text classifiers, one token at a time.

Python API (same options and defaults as the CLI, by the same names with ``_`` for ``-``)::

    import saliency_cli
    results = saliency_cli.explain(["Great battery, awful screen."], methods=["ig", "gxi"])
    for e in results:
        print(e.method, e.prediction.label, [(w.word, round(w.score, 3)) for w in e.words])
"""

from __future__ import annotations

import inspect
from typing import Any, Iterable

from saliency_cli.records import Explanation, Prediction, Review, RowError, Target, TokenScore, WordScore

__version__ = "0.1.0"


def load_model(source: str | None = None, *, device: str = "auto", trust_remote_code: bool = False,
               max_length: int | None = None):
    """Load a classifier once (hub id, local folder, or ``None`` for the embedded default) to reuse across calls."""
    from saliency_cli.model import load_model as _load

    return _load(source, device=device, trust_remote_code=trust_remote_code, max_length=max_length)


def _prepared(texts: str | Iterable[str], model: Any, options: dict[str, Any], **fixed: Any):
    """The loaded model, the reviews and the settings of an API call (ValueError for a bad option)."""
    from saliency_cli.inputs import texts_to_reviews
    from saliency_cli.model import LoadedModel
    from saliency_cli.options import MODEL, OPTIONS, SETTINGS
    from saliency_cli.settings import make_settings

    run = {o.name: options.pop(o.name) for o in OPTIONS if o.to == SETTINGS and o.name in options}
    load = {o.dest: options.pop(o.name) for o in OPTIONS if o.to == MODEL and o.name != "model" and o.name in options}
    settings = make_settings(options=options, **{**run, **fixed})
    lm = model if isinstance(model, LoadedModel) else load_model(model, **load)
    reviews = texts_to_reviews([texts] if isinstance(texts, str) else texts)
    for r in reviews:
        if not r.text.strip():
            raise ValueError(f"text {r.id} is empty")
    return lm, reviews, settings


def explain(texts: str | Iterable[str], *, model: Any = None, **options: Any) -> list[Explanation]:
    """Explain texts; returns one Explanation per text x method x target, in input order.

    ``model`` is a hub id, a local folder, ``None`` (the embedded default) or a model returned
    by :func:`load_model`. ``options`` are the run options (``methods``, ``target``, ``attribute``,
    ``normalize``, ``batch_size``, ``dtype``, ``faithfulness``, ...; ``device``, ``max_length`` and
    ``trust_remote_code`` when ``model`` is not loaded yet) and the methods' parameters (``steps``,
    ``baseline``, ``ig_rule``, ``samples``, ``seed``, ...; ``saliency-cli methods`` lists them all).
    ``faithfulness=True`` adds ERASER comprehensiveness / sufficiency to every record (``e.faithfulness``).
    Raises ValueError if an option is invalid or a text cannot be explained (e.g. it is empty).
    """
    from saliency_cli.runners.local import explain_reviews

    lm, reviews, settings = _prepared(texts, model, dict(options))
    return explain_reviews(lm, reviews, settings)


def evaluate(texts: str | Iterable[str], *, model: Any = None, bootstrap: int = 1000, **options: Any) -> dict[str, Any]:
    """Rank saliency methods by faithfulness on these texts; returns the summary ``saliency-cli evaluate``
    writes with ``--summary`` (per method: each metric's mean and 95% bootstrap interval, mean rank, wins).

    The seeded ``random`` control is added to ``methods`` (default: gradient, gradient x input, IG,
    occlusion); ``bootstrap`` is the number of resamples. ``options`` are :func:`explain`'s.
    """
    from saliency_cli.evaluation.statistics import summarize, tally_reviews, with_control
    from saliency_cli.options import BY_NAME
    from saliency_cli.runners.local import explain_reviews

    names = with_control(options.pop("methods", None) or BY_NAME["methods"].on("evaluate").default)
    lm, reviews, settings = _prepared(texts, model, dict(options), methods=names, faithfulness=True)
    return summarize(tally_reviews(names, explain_reviews(lm, reviews, settings)), resamples=bootstrap, seed=0)


def summarize(results: Any, *, min_count: int = 5, top_k: int = 5, keep_punctuation: bool = False,
              examples: int = 3, top: int = 10) -> dict[str, Any]:
    """What drives the model across many explanations; returns the JSON ``saliency-cli summarize --json``
    writes (per method and target label, every word in ``min_count`` reviews or more, with its mean score,
    95 % interval and top/bottom-``top_k`` shares; with gold labels, the confusion view).

    ``results`` is a path of saved results (JSONL or word-level CSV), a list of paths, or explanations
    (what :func:`explain` returns, in review order). Raises ValueError for a malformed line, or for
    records of different models.
    """
    import os

    from saliency_cli.evaluation.corpus import CorpusOptions, CorpusTally
    from saliency_cli.outputs.saved import read_results

    tally = CorpusTally(CorpusOptions(min_count, top_k, keep_punctuation, 0, examples, top))
    paths = [results] if isinstance(results, (str, os.PathLike)) else results
    items = list(paths) if isinstance(paths, (list, tuple)) else None
    if items and all(isinstance(p, (str, os.PathLike)) for p in items):
        for path in items:
            tally.feed(read_results(path))
    else:
        tally.feed(items if items is not None else paths)
    return tally.summary()


def _api_signature(func: Any, command: str) -> inspect.Signature:
    """``func``'s signature with every option it takes spelled out (for ``help()`` and editors)."""
    from saliency_cli.options import OPTIONS
    from saliency_cli.settings import method_options

    fixed = [p for p in inspect.signature(func).parameters.values() if p.kind is not p.VAR_KEYWORD]
    names = {p.name for p in fixed}
    extra = [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.on(command).default)
             for o in OPTIONS if o.api and command in o.commands and o.name not in names]
    extra += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None) for k in method_options()]
    return inspect.Signature(fixed + extra)


explain.__signature__ = _api_signature(explain, "explain")  # type: ignore[attr-defined]
evaluate.__signature__ = _api_signature(evaluate, "evaluate")  # type: ignore[attr-defined]

__all__ = [
    "Explanation", "Prediction", "Review", "RowError", "Target", "TokenScore", "WordScore",
    "evaluate", "explain", "load_model", "summarize", "__version__",
]

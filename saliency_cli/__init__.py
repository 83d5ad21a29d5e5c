"""saliency-cli: explain transformer text classifiers, one token at a time.

Python API (same defaults as the CLI)::

    import saliency_cli
    results = saliency_cli.explain(["Great battery, awful screen."], methods=["ig", "gxi"])
    for e in results:
        print(e.method, e.prediction.label, [(w.word, round(w.score, 3)) for w in e.words])
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from saliency_cli.records import Explanation, Prediction, Review, RowError, Target, TokenScore, WordScore

__version__ = "0.1.0"


def load_model(source: str | None = None, *, device: str = "auto", trust_remote_code: bool = False,
               max_length: int | None = None):
    """Load a classifier once (hub id, local folder, or ``None`` for the embedded default) to reuse across calls."""
    from saliency_cli.model import load_model as _load

    return _load(source, device=device, trust_remote_code=trust_remote_code, max_length=max_length)


def explain(
    texts: str | Iterable[str],
    *,
    model: Any = None,
    methods: Sequence[str] = ("integrated-gradients",),
    target: str | Sequence[str] = "predicted",
    attribute: str = "probability",
    normalize: str = "none",
    batch_size: int = 16,
    device: str = "auto",
    max_length: int | None = None,
    max_memory: int | None = None,
    long_text: str = "truncate",
    window_overlap: int | None = None,
    dtype: str = "float32",
    faithfulness: bool = False,
    faithfulness_baseline: str | None = None,
    **method_options: Any,
) -> list[Explanation]:
    """Explain texts; returns one Explanation per text x method x target, in input order.

    ``model`` is a hub id, a local folder, ``None`` (the embedded default) or a model returned
    by :func:`load_model`. ``method_options`` are the methods' parameters by keyword (``steps``,
    ``baseline``, ``ig_rule``, ``samples``, ``seed``, ...; ``saliency-cli methods`` lists them all).
    ``faithfulness=True`` adds ERASER comprehensiveness / sufficiency to every record (``e.faithfulness``);
    ``faithfulness_baseline`` (mask|pad|unk|delete) is what their removed words become (default: the mask token).
    Raises ValueError if an option is invalid or a text cannot be explained (e.g. it is empty).
    """
    from saliency_cli.model import LoadedModel
    from saliency_cli.pipeline import explain_reviews
    from saliency_cli.readers import texts_to_reviews
    from saliency_cli.settings import make_settings

    settings = make_settings(
        list(methods),
        options=method_options,
        targets=[target] if isinstance(target, str) else list(target),
        attribute=attribute,
        normalization=normalize,
        batch_size=batch_size,
        max_memory=max_memory,
        long_text=long_text,
        window_overlap=window_overlap,
        dtype=dtype,
        faithfulness=faithfulness,
        faithfulness_baseline=faithfulness_baseline,
    )
    lm = model if isinstance(model, LoadedModel) else load_model(model, device=device, max_length=max_length)
    reviews = texts_to_reviews([texts] if isinstance(texts, str) else texts)
    for r in reviews:
        if not r.text.strip():
            raise ValueError(f"text {r.id} is empty")
    return explain_reviews(lm, reviews, settings)


def evaluate(
    texts: str | Iterable[str],
    *,
    model: Any = None,
    methods: Sequence[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    **options: Any,
) -> dict[str, Any]:
    """Rank saliency methods by faithfulness on these texts; returns the summary ``saliency-cli evaluate``
    writes with ``--summary`` (per method: each metric's mean and 95% bootstrap interval, mean rank, wins).

    The seeded ``random`` control is added to ``methods`` (default: gradient, gradient x input, IG, occlusion). ``options`` are :func:`explain`'s keywords
    (``target``, ``attribute``, ``batch_size``, ``dtype``, method options such as ``steps``).
    """
    from saliency_cli.evaluation import DEFAULT_METHODS, summarize, tally_reviews, with_control

    names = with_control(methods or DEFAULT_METHODS)
    explanations = explain(texts, model=model, methods=names, faithfulness=True, **options)
    return summarize(tally_reviews(names, explanations), resamples=resamples, seed=seed)


__all__ = [
    "Explanation", "Prediction", "Review", "RowError", "Target", "TokenScore", "WordScore",
    "evaluate", "explain", "load_model", "__version__",
]

"""Whether a record already in an output belongs to the run that wants to ``--resume`` it.

A resumed file must hold one run: the same model, methods and parameters, targets, explained output,
normalisation, faithfulness and its baseline, and precision (``dtype``, as resolved). A JSONL record
carries all of these; a CSV row only its method and its target and predicted labels, so for CSV only
those are checked.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from saliency_cli.settings import Settings, resolve_targets

ADAPTIVE = ("steps",)  # adaptive IG records the steps each review needed


def run_check(model: str, model_labels: Sequence[str], settings: Settings,
              labelled: bool = False, check_dtype: bool = True) -> Callable[[Mapping[str, Any]], str | None]:
    """A function telling why a record (JSONL object or CSV row) does not belong to the run of
    ``settings`` (as ``engine.prepare`` resolved them) on the model named ``model``, or None.
    ``labelled``: the run has ``--label-field`` (its records carry ``label``). ``check_dtype`` False
    when this process cannot know the precision the records are made in (GPU workers resolving
    ``--dtype`` on their own device)."""
    want_dtype = settings.dtype if check_dtype else None
    params = {r.method.name: dict(r.params) for r in settings.methods}
    labels = {label: i for i, label in enumerate(model_labels)}

    def targets_of(predicted: int) -> list[int]:
        return resolve_targets(model_labels, settings.targets, predicted)

    def expected(record: Mapping[str, Any]) -> set[tuple[str, int]]:
        predicted = record["prediction"]["index"] if "params" in record else labels[record["predicted"]]
        return {(m, t) for m in params for t in targets_of(int(predicted))}

    def got(record: Mapping[str, Any]) -> tuple[str, int]:
        return record["method"], (record["target"]["index"] if "params" in record else labels[record["target"]])

    def review(records: list[Mapping[str, Any]]) -> str | None:
        """A finished review must hold every method x target of this run, no more."""
        want, have = expected(records[0]), {got(r) for r in records}
        if have != want:
            missing = sorted(want - have)
            return (f"review {records[0].get('id')!r} has {len(have)} method x target records, this run makes "
                    f"{len(want)}" + (f" (missing {missing[0][0]} for {model_labels[missing[0][1]]!r})" if missing else ""))
        return None

    def check(record: Mapping[str, Any]) -> str | None:
        method = record.get("method")
        if ("label" in record) != labelled:
            return (f"{'a' if 'label' in record else 'no'} label (--label-field), this run has "
                    f"{'one' if labelled else 'none'}")
        if method not in params:
            return f"method {method!r}, this run explains {', '.join(params)}"
        if "params" in record:  # a JSONL record
            same = [("model", model, record.get("model")), ("attribute", settings.attribute, record.get("attribute")),
                    ("normalization", settings.normalization, record.get("normalization")),
                    ("faithfulness", settings.faithfulness, "faithfulness" in record)]
            if want_dtype is not None:  # a record without one was made before precision was recorded: refused
                same.append(("dtype", want_dtype, record.get("dtype")))
            for key, want, got in same:
                if got != want:
                    return f"{key} {got!r}, this run has {want!r}"
            removed = (record.get("faithfulness") or {}).get("baseline")
            if settings.faithfulness and removed != settings.faithfulness_baseline:
                return f"faithfulness baseline {removed!r}, this run has {settings.faithfulness_baseline!r}"
            adaptive = params[method].get("tolerance") is not None
            for key, want in params[method].items():
                got = record["params"].get(key)
                if got != want and not (adaptive and key in ADAPTIVE):
                    return f"{method} parameter {key}={got!r}, this run has {want!r}"
            target, predicted = record["target"]["index"], record["prediction"]["index"]
        else:  # a CSV row: labels only
            target, predicted = labels.get(record.get("target")), labels.get(record.get("predicted"))
            if target is None or predicted is None:
                return f"labels {record.get('target')!r}/{record.get('predicted')!r} that this model does not have"
        if target not in targets_of(int(predicted)):
            return f"target {model_labels[target] if 0 <= target < len(model_labels) else target!r} for a review " \
                   f"predicted {model_labels[predicted]!r}, not one of this run's targets ({', '.join(settings.targets)})"
        return None

    check.review = review  # type: ignore[attr-defined]
    return check

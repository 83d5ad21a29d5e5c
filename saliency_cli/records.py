"""Frozen records that flow through saliency-cli: reviews in, explanations out, and what a sink is.

``Review`` (or a reader's ``RowError``) goes into a runner; one ``Outcome`` (or ``RowError``) per
input row comes out, in input order, and every sink takes those (``Sink``). The dict form of
:class:`Explanation` is the JSONL output schema (``SCHEMA_VERSION``); ``to_dict``/``from_dict``
round-trip exactly so reports can be rendered from saved files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Review:
    """One input review: its id, its text, the 1-based row it came from and, when known, the file it
    was read from (``source``). With ``--label-field``, ``labelled`` is set and ``label`` holds the
    user's own label (None where the row has none); with ``--rationale-field``, ``rationale`` holds
    the words a person marked, as JSON text (parsed by ``evaluation.plausibility``)."""

    id: str
    text: str
    row: int
    source: str | None = None
    label: str | None = None
    labelled: bool = False
    rationale: str | None = None


@dataclass(frozen=True)
class RowError:
    """A row that could not be explained; reported with its row number, id (if known) and reason, and
    the file it was read from (``source``) when the reviews came from files."""

    row: int
    id: str | None
    error: str
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        head = {} if self.source is None else {"source": self.source}
        return {**head, "row": self.row, "id": self.id, "error": self.error}


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name if it has none): a row error stays one line."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@dataclass(frozen=True)
class TokenScore:
    """One model token with its character span in the review text and its attribution."""

    token: str
    start: int
    end: int
    score: float
    special: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "start": self.start,
            "end": self.end,
            "score": self.score,
            "special": self.special,
        }


@dataclass(frozen=True)
class WordScore:
    """A word of the original text (``text[start:end]``) with the summed score of its tokens."""

    word: str
    start: int
    end: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"word": self.word, "start": self.start, "end": self.end, "score": self.score}


@dataclass(frozen=True)
class Prediction:
    """The model's predicted label and the probability of every label."""

    label: str
    index: int
    probs: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "index": self.index, "probs": dict(self.probs)}


@dataclass(frozen=True)
class Target:
    """The label whose score was explained."""

    label: str
    index: int

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "index": self.index}


@dataclass(frozen=True)
class Explanation:
    """Attribution of one review, for one method and one target label."""

    id: str
    text: str
    model: str
    method: str
    params: Mapping[str, Any]
    prediction: Prediction
    target: Target
    tokens: tuple[TokenScore, ...]
    words: tuple[WordScore, ...]
    attribute: str = "probability"
    dtype: str | None = None  # the precision that made it, resolved (None: a record written before it was recorded)
    normalization: str = "none"
    truncated: bool = False
    dropped_tokens: int = 0
    delta: float | None = None
    row: int | None = None
    windows: int = 1
    faithfulness: Mapping[str, Any] | None = None  # --faithfulness only (README, "Output schema")
    source: str | None = None  # the input file, relative to the folder or glob given (None: arguments, stdin)
    label: str | None = None  # the user's own label (--label-field); written only when ``labelled``
    labelled: bool = False
    plausibility: Mapping[str, Any] | None = None  # evaluate --rationale-field only

    def to_dict(self) -> dict[str, Any]:
        """The JSONL record (see README, "Output schema")."""
        out = {
            "schema": SCHEMA_VERSION,
            "id": self.id,
            "source": self.source,
            "row": self.row,
            "text": self.text,
            "model": self.model,
            "method": self.method,
            "params": dict(self.params),
            "attribute": self.attribute,
            "dtype": self.dtype,
            "prediction": self.prediction.to_dict(),
            "target": self.target.to_dict(),
            "normalization": self.normalization,
            "truncated": self.truncated,
            "dropped_tokens": self.dropped_tokens,
            "delta": self.delta,
            "windows": self.windows,
            "tokens": [t.to_dict() for t in self.tokens],
            "words": [w.to_dict() for w in self.words],
        }
        if self.faithfulness is not None:
            out["faithfulness"] = dict(self.faithfulness)
        if self.labelled:
            out["label"] = self.label
        if self.plausibility is not None:
            out["plausibility"] = dict(self.plausibility)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Explanation":
        """Rebuild an explanation from its JSONL record."""
        pred = d["prediction"]
        return cls(
            id=str(d["id"]),
            row=d.get("row"),
            source=d.get("source"),
            text=d["text"],
            model=d["model"],
            method=d["method"],
            params=dict(d.get("params", {})),
            attribute=d.get("attribute", "probability"),
            dtype=d.get("dtype"),
            prediction=Prediction(pred["label"], int(pred["index"]), dict(pred["probs"])),
            target=Target(d["target"]["label"], int(d["target"]["index"])),
            normalization=d.get("normalization", "none"),
            truncated=bool(d.get("truncated", False)),
            dropped_tokens=int(d.get("dropped_tokens", 0)),
            delta=d.get("delta"),
            windows=int(d.get("windows", 1)),
            faithfulness=d.get("faithfulness"),
            label=None if d.get("label") is None else str(d["label"]),
            labelled="label" in d,
            plausibility=d.get("plausibility"),
            tokens=tuple(
                TokenScore(t["token"], int(t["start"]), int(t["end"]), float(t["score"]), bool(t["special"]))
                for t in d["tokens"]
            ),
            words=tuple(
                WordScore(w["word"], int(w["start"]), int(w["end"]), float(w["score"])) for w in d["words"]
            ),
        )


@dataclass(frozen=True)
class Outcome:
    """What a runner gives back for one review: its explanations (one per method x target, in
    settings order). ``written`` is ``(file, records)`` when a worker already wrote them to a part
    file (Ray ``--output-dir``); the explanations are then not sent back."""

    review: Review
    explanations: Sequence[Explanation] = ()
    truncated: bool = False
    written: tuple[str, int] | None = None


Key = tuple[str | None, str]  # (source, id): a review of one file (ids are unique within a file)


def is_done(done: "set[Key] | frozenset[Key]", source: str | None, rid: str) -> bool:
    """Whether ``--resume`` found the review (source, id) finished. A record without a source (written
    before records had one, or of reviews given as arguments or on stdin) stands for its id in any file."""
    return (source, rid) in done or (None, rid) in done


# How a run ended, as every sink is told: every row was read (or --fail-fast stopped it), a stop was
# asked for after a batch (finished rows are kept, --resume goes on), or it was aborted mid-batch.
COMPLETE, STOPPED, ABORTED = "complete", "stopped", "aborted"


class Sink(Protocol):
    """Where results go as they come, in input order: writers, the HTML report, evaluate's tally,
    Ray's part manifest, the progress display. ``finish`` is called once, with how the run ended;
    a sink keeps what is finished unless the run was aborted and it cannot (the HTML page)."""

    def add(self, result: Outcome | RowError) -> None: ...

    def finish(self, ending: str) -> None: ...

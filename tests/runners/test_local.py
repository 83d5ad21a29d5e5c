"""The local runner: batches cut at input rows, results in input order across batches."""

from __future__ import annotations

from saliency_cli.records import Review, RowError
from saliency_cli.runners.local import explain_stream
from saliency_cli.settings import make_settings

TEXTS = ["Not buying it any sooner!", "great", "The screen is bright.", "Works as described.", "Awful service."]


def test_order_restored_and_row_errors_pass_through_across_batches(tiny_lm):
    items = [Review(str(i), t, i) for i, t in enumerate(TEXTS, start=1)]
    items.insert(2, RowError(99, "x", "bad row"))
    out = list(explain_stream(tiny_lm, items, make_settings(["grad"], batch_size=2)))
    assert isinstance(out[2], RowError) and out[2].id == "x"
    ids = [o.review.id for o in out if not isinstance(o, RowError)]
    assert ids == ["1", "2", "3", "4", "5"]

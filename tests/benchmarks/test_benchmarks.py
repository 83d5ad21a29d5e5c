"""The side-by-side benchmark runs end to end on the tiny model (no timing assertions)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("captum")

from benchmarks import corpus, run  # noqa: E402

SNIPPETS = "\n".join(
    [
        "1_1\t1.5\tGreat phone, the screen is bright.",
        "1_2\t-2.0\tTerrible battery; it died in a day.",
        "2_1\t2.2\tWorks as described, arrived on time.",
        "3_1\t-1.1\tAwful customer service.",
        "3_2\t0.3\tThe sound is fine, really.",
        "4_1\t1.0\tGood value for money.",
    ]
)


@pytest.fixture()
def vader_file(tmp_path):
    path = tmp_path / "amazonReviewSnippets_GroundTruth.txt"
    path.write_text(SNIPPETS + "\n", encoding="utf-8")
    return path


def test_corpus_groups_snippets_in_order(vader_file):
    records = corpus.records_from_vader(vader_file, "long")
    assert [r["review_id"] for r in records] == ["1", "2", "3", "4"]
    assert records[0]["text"] == "Great phone, the screen is bright. Terrible battery; it died in a day."
    short = corpus.records_from_vader(vader_file, "short")
    assert len(short) == 6 and short[1]["id"] == "1_2"
    reviews = corpus.load_corpus("short", limit=2, path=_write(vader_file, "short"))
    assert [r.id for r in reviews] == ["1_1", "1_2"]


def _write(vader_file, kind):
    path = vader_file.with_name(f"{kind}.jsonl")
    with open(path, "w", encoding="utf-8") as fh:
        for rec in corpus.records_from_vader(vader_file, kind):
            fh.write(json.dumps(rec) + "\n")
    return path


def test_benchmark_end_to_end_on_tiny_model(tmp_path, vader_file):
    import importlib.util

    from benchmarks.run import fit_texts, token_ids
    from benchmarks import models

    # transformers-interpret is a `bench` extra: it joins the comparison when installed.
    with_ti = importlib.util.find_spec("transformers_interpret") is not None
    runners = "ours,captum,captum-tuned" + (",transformers-interpret" if with_ti else "")
    long_file = _write(vader_file, "long")
    out = tmp_path / "results.json"
    run.main([
        "--corpus", "long", "--corpus-file", str(long_file), "--model", "tiny", "--methods", "ig",
        "--runners", runners, "--limit", "2", "--batch-size", "2", "--workdir", str(tmp_path / "models"),
        "--no-warmup", "--probe-seconds", "0.05", "--out", str(out),
    ])
    report = json.loads(out.read_text())
    lm = models.load(models.prepare("tiny", tmp_path / "models"))
    texts = fit_texts(lm, [r["text"] for r in corpus.records_from_vader(vader_file, "long")[:2]])
    lengths = [len(ids) for ids in token_ids(lm, texts)]
    assert (report["reviews"], report["real_tokens"], report["max_tokens"]) == (2, sum(lengths), max(lengths))
    assert report["model_shape"]["layers"] == lm.model.config.num_hidden_layers
    rows = {r["runner"]: r for r in report["results"]}
    expected = ["ours", "captum", "captum-tuned"] + (["transformers-interpret"] if with_ti else [])
    assert sorted(rows) == sorted(expected) and {r["method"] for r in rows.values()} == {"ig"}
    best = max([report["matmul_gflops_fp32"]] + [r["ceiling_after"] for r in rows.values()])
    for name, row in rows.items():
        assert row["ok"], row
        # every figure follows from the timings it reports (no figure is invented)
        assert row["reviews_per_s"] == pytest.approx(2 / row["seconds"])
        assert row["tokens_per_s"] == pytest.approx(sum(lengths) / row["seconds"])
        assert row["flop_fraction"] == pytest.approx(row["useful_gflop"] / row["seconds"] / best)
        assert row["working_mb"] == pytest.approx(row["peak_rss_mb"] - row["rss_after_load_mb"])
        assert row["peak_rss_mb"] >= row["rss_after_load_mb"] > 0
        if name != "ours":
            assert row["ours_speedup"] == pytest.approx(row["seconds"] / rows["ours"]["seconds"])
        if name in ("captum", "captum-tuned"):
            assert row["agreement"]["passed"], row["agreement"]
            assert row["agreement"]["max_rel_error"] <= 1e-4


def test_flop_count_is_honest():
    """Forward + input-gradient backward = 2 x linear + 3 x attention products (frozen parameters);
    the classifier's last layer needs keys and values of every token, the rest for position 0 only."""
    from types import SimpleNamespace

    from benchmarks.flops import pass_flops, pass_parts

    config = SimpleNamespace(num_hidden_layers=2, hidden_size=4, intermediate_size=16)
    n = 3
    lin_token = 2 * (4 * 4 * 4 + 2 * 4 * 16)  # Q, K, V, output; FFN in and out
    lin, att = 2 * n * lin_token, 2 * 4 * n * n * 4
    assert pass_flops([n], config, backward=False, needed=False) == lin + att
    assert pass_flops([n], config, backward=True, needed=False) == 2 * lin + 3 * att
    last_lin = n * 2 * 2 * 4 * 4 + (lin_token - 2 * 2 * 4 * 4)  # K, V for all; Q, O, FFN for one
    last_att = 4 * n * 4  # one query
    lin_needed = n * lin_token + last_lin
    att_needed = 4 * n * n * 4 + last_att
    assert pass_flops([n], config, backward=True) == 2 * lin_needed + 3 * att_needed
    assert pass_parts([n], config, backward=True) == (2 * lin_needed, 3 * att_needed)
    assert pass_parts([n], config, backward=False, needed=False) == (lin, att)
    assert pass_flops([n, n], config, backward=True) == 2 * pass_flops([n], config, backward=True)


@pytest.fixture()
def quick_ceiling(tmp_path, monkeypatch):
    """The matmul ceiling probed for a moment instead of seconds; model folders under tmp_path."""
    import tempfile

    from benchmarks import flops

    real = flops.matmul_ceiling
    monkeypatch.setattr(flops, "matmul_ceiling", lambda config, dtype="float32", seconds=3.0, clock=None:
                        real(config, dtype, 0.05, **({"clock": clock} if clock else {})))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def test_profile_ig_accounts_for_every_path_token(quick_ceiling):
    """The profile's chunks hold steps x every review's real tokens; both kernel families get a rate."""
    from benchmarks import profile_ig

    report = profile_ig.main(["--model", "tiny", "--limit", "3", "--steps", "4", "--batch-size", "2"])
    assert sum(c["real"] for c in report["chunks"]) == 4 * report["real_tokens"]
    assert 0 < report["flop_fraction"] and report["phases"]["path_pass"] > 0
    assert set(report["kernel_gflops"]) == {"linear matmuls", "attention"}
    assert all(v > 0 for v in report["kernel_gflops"].values())
    assert report["operators_s"]["linear matmuls"] > 0


def test_levers_report_chunk_overhead(quick_ceiling):
    from benchmarks import levers

    report = levers.main(["--model", "tiny", "--shapes", "4x8", "--length", "8", "--rows", "2,4", "--total", "4",
                          "--overhead-shapes", "8x8", "--repeat", "1"])
    assert set(report["chunk_overhead_tokens"]) == {"fwd+bwd 8x8", "inference 8x8"}
    assert all(len(v) == 3 for v in report["chunk_overhead_tokens"].values())
    assert [r["rows"] for r in report["inference_chunks"]] == [2, 4]


def test_as_before_switches_this_releases_levers_off_and_back_on(tiny_lm):
    from benchmarks.before import as_before, greedy_chunks
    from saliency_cli.engine import budget, forward, gradients
    from saliency_cli.model.attention import NAME as LEAN

    planned = gradients.plan_chunks
    with as_before(tiny_lm) as old:
        assert old.head_only == {} and LEAN not in old.variants and "eager" in old.variants
        assert gradients.plan_chunks is greedy_chunks and forward.plan_chunks is greedy_chunks
        assert greedy_chunks([4, 4, 8], lambda n: 2) == [2, 3]
    assert gradients.plan_chunks is planned and budget.INFERENCE_TOKENS == 2048
    assert LEAN in tiny_lm.variants and tiny_lm.head_only

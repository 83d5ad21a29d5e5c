"""``explain --engine ray`` on a real local Ray instance: the same rows as the local engine, row
errors as error rows, --resume, and clear one-line errors when Ray is missing or unreachable."""

from __future__ import annotations

import csv
import json
import sys
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from saliency_cli.model import ModelSpec
from saliency_cli.runners import local as pipeline
from saliency_cli.runners.ray import actor as ray_worker
from saliency_cli.cli import app
from saliency_cli.runners.ray.cluster import RayOptions, parse_workers, size_cluster, size_local
from saliency_cli.runners.batches import row_batches
from saliency_cli.records import Review, RowError
from saliency_cli.settings import make_settings

runner = CliRunner()
REVIEWS = Path(__file__).resolve().parents[2] / "sample_data" / "reviews.jsonl"  # 200 real reviews


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory):
    """One private local Ray for the module (2 CPUs, no dashboard, logs in a temp folder); the
    runner finds it initialised and uses it instead of starting its own."""
    ray = pytest.importorskip("ray")
    from saliency_cli.runners.ray.cluster import init_ray

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        init_ray(ray, RayOptions(temp_dir=str(tmp_path_factory.mktemp("ray")), workers=(2, 2), num_cpus=2))
    yield ray
    ray.shutdown()


def explain(*args):
    return runner.invoke(app, ["explain", *map(str, args), "--quiet"])


def close(a, b, path="") -> None:
    """Two JSON values equal, floats within 1e-6 of their size (at least 1): the sharpened model's
    scores are of 1e-3 to 10, so a score that moved is caught."""
    if isinstance(a, float) or isinstance(b, float):
        assert abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b)), (path, a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            close(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture()
def one_thread():
    """The local reference run with the torch threads of each of the 2 actors on 2 CPUs (one): float32
    sums taken by another number of threads differ in their last bits (about 1e-6 of a score of 1)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def csv_rows_of(path):
    return list(csv.DictReader(path.open(encoding="utf-8")))


def test_every_method_family_equals_the_local_engine_in_jsonl_and_csv(ray_instance, sharp_dir, tmp_path, one_thread):
    """Gradient and perturbation methods, every target, faithfulness, and long reviews in windows:
    the Ray engine's records equal the local engine's, value for value, in JSONL and in CSV (a CSV
    has no faithfulness: a second Ray run writes it, compared with the local records' rows)."""
    from saliency_cli.outputs.formats import TOKEN_COLUMNS, csv_rows
    from saliency_cli.records import Explanation

    src = tmp_path / "in.jsonl"
    src.write_text("".join(REVIEWS.read_text().splitlines(keepends=True)[:40]))
    common = ["-i", src, "--model", sharp_dir, "--method", "ig", "--method", "grad", "--method", "occlusion",
              "--method", "lime", "--steps", 8, "--samples", 32, "--batch-size", 8, "--target", "all",
              "--long-text", "window"]
    local, remote, remote_csv = (tmp_path / n for n in ("l.jsonl", "r.jsonl", "r.csv"))
    res = explain(*common, "--faithfulness", "-o", local)
    assert res.exit_code == 0, res.stderr
    res = explain(*common, "--faithfulness", "--engine", "ray", "--workers", 2, "-o", remote)
    assert res.exit_code == 0, res.stderr
    assert res.stdout == ""
    want, got = lines(local), lines(remote)
    assert len(want) == 40 * 4 * 3 and [(r["id"], r["method"]) for r in got] == [(r["id"], r["method"]) for r in want]
    for method in ("integrated-gradients", "gradient", "occlusion", "lime"):  # scores that can be told apart
        assert max(abs(w["score"]) for r in want if r["method"] == method for w in r["words"]) > 1e-2, method
    assert {r["windows"] > 1 for r in want} == {True, False}  # reviews in windows and whole ones
    assert any(r["faithfulness"]["comprehensiveness"] is not None for r in want)
    for a, b in zip(want, got):
        close(a, b)
    res = explain(*common, "--engine", "ray", "--workers", 2, "-o", remote_csv)
    assert res.exit_code == 0, res.stderr
    expected = csv_rows([Explanation.from_dict(r) for r in want], "token")
    rows = csv_rows_of(remote_csv)
    assert len(rows) == len(expected) and list(rows[0]) == list(TOKEN_COLUMNS)
    for row, values in zip(rows, expected):
        want_row = dict(zip(TOKEN_COLUMNS, map(str, values)))
        assert {k: v for k, v in row.items() if k != "score"} == {k: v for k, v in want_row.items() if k != "score"}
        close(float(row["score"]), float(want_row["score"]))


def shards(folder: Path, rows: int = 24) -> Path:
    """Three shards of real reviews (ids unique within a file, the same ids across files) and a broken one."""
    folder.mkdir()
    reviews = [json.loads(line) for line in REVIEWS.read_text().splitlines()]
    for k, name in enumerate("abc"):
        (folder / f"{name}.jsonl").write_text("".join(
            json.dumps({"review_id": f"r{i}", "text": reviews[k * rows + i]["text"]}) + "\n" for i in range(rows)))
    (folder / "d.jsonl").write_text('{"review_id": "r0", "text": "fine"}\n{not json\n{"review_id": "r0", "text": '
                                    '"dup"}\n{"review_id": "r3", "text": ""}\n{"review_id": "r4", "text": "last"}\n')
    return folder


def test_shards_give_the_same_rows_from_a_folder_a_glob_and_ray(ray_instance, sharp_dir, tmp_path, one_thread):
    pa_parquet = pytest.importorskip("pyarrow.parquet")
    from saliency_cli.outputs.saved import read_results

    folder = shards(tmp_path / "in")
    common = ["--id-field", "review_id", "--model", sharp_dir, "--method", "grad", "--method", "ig", "--steps", 4,
              "--batch-size", 4]
    out = {n: tmp_path / n for n in ("dir.jsonl", "glob.jsonl", "dir.err", "ray.err", "rows.parquet")}
    assert explain("-i", folder, *common, "-o", out["dir.jsonl"], "-o", out["rows.parquet"],
                   "--errors", out["dir.err"]).exit_code == 3
    assert explain("-i", f"{folder}/*.jsonl", *common, "-o", out["glob.jsonl"]).exit_code == 3
    assert out["glob.jsonl"].read_bytes() == out["dir.jsonl"].read_bytes()
    want = lines(out["dir.jsonl"])
    assert len(want) == (3 * 24 + 2) * 2 and {r["source"] for r in want} == {"a.jsonl", "b.jsonl", "c.jsonl", "d.jsonl"}
    assert max(abs(t["score"]) for r in want for t in r["tokens"]) > 1e-3  # scores that can be told apart
    table = pa_parquet.read_table(out["rows.parquet"])
    assert table.column("id").to_pylist() == [r["id"] for r in want]
    assert table.column("source").to_pylist() == [r["source"] for r in want]
    assert table.column("words").to_pylist() == [r["words"] for r in want]
    res = runner.invoke(app, ["explain", "-i", str(folder), *map(str, common), "--engine", "ray", "--workers", "2",
                              "--output-dir", str(tmp_path / "parts"), "--output-format", "parquet",
                              "--errors", str(out["ray.err"])])
    assert res.exit_code == 3, res.stderr
    assert "ray: 2 actors loaded the model 2 times" in res.stderr
    manifest = json.loads((tmp_path / "parts" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["actors"] == manifest["model_loads"] == 2
    assert [p["source"] for p in manifest["parts"]] == ["a.jsonl", "b.jsonl", "c.jsonl", "d.jsonl"]
    got = [e.to_dict() for p in manifest["parts"] for e in read_results(tmp_path / "parts" / p["file"])]
    for a, b in zip(want, got, strict=True):
        close(a, b)
    assert out["ray.err"].read_text() == out["dir.err"].read_text()
    assert [e["source"] for e in lines(out["ray.err"])] == ["d.jsonl"] * 3


def test_bad_rows_come_back_as_error_rows(ray_instance, bert_dir, tmp_path):  # input read by the driver
    # row 2: empty text (the reader), row 3: no tokens (the model, on the worker), row 4: not JSON (the reader)
    rows = [{"text": "good phone"}, {"text": "  "}, {"text": "\u200b\u200b"}, None, {"text": "awful battery"}]
    stdin = "".join((json.dumps(r) if r else "{not json") + "\n" for r in rows)
    out, errors = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    res = runner.invoke(app, ["explain", "--input", "-", "--model", str(bert_dir), "--method", "grad", "--engine", "ray",
                              "--batch-size", "2", "-o", str(out), "--errors", str(errors), "-q"], input=stdin)
    assert res.exit_code == 3, res.stderr
    assert [r["id"] for r in lines(out)] == ["1", "5"]
    bad = {e["row"]: e["error"] for e in lines(errors)}
    assert set(bad) == {2, 3, 4}
    assert "empty" in bad[2] and "no tokens" in bad[3] and "malformed JSON" in bad[4]


def test_resume_skips_what_is_written_and_ends_equal_to_the_local_run(ray_instance, sharp_dir, tmp_path, one_thread):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(REVIEWS.read_text().splitlines(keepends=True)[:60]))
    common = ["-i", src, "--model", sharp_dir, "--method", "grad", "--batch-size", 8]
    local, remote = tmp_path / "local.jsonl", tmp_path / "remote.jsonl"
    assert explain(*common, "-o", local).exit_code == 0
    whole = local.read_text().splitlines(keepends=True)
    (tmp_path / "remote.jsonl.partial").write_text("".join(whole[:30]) + whole[30][:40])  # torn after 30 rows
    res = explain(*common, "--engine", "ray", "-o", remote, "--resume")
    assert res.exit_code == 0, res.stderr
    for a, b in zip(lines(local), lines(remote), strict=True):
        close(a, b)


def test_unexpected_failure_costs_only_its_row(tiny_lm, monkeypatch):
    from saliency_cli.engine import prepare

    real = ray_worker.explain_batch

    def fragile(ctx, items):
        if any(isinstance(i, Review) and i.text == "boom" for i in items):
            raise KeyError("boom")
        return real(ctx, items)

    monkeypatch.setattr(ray_worker, "explain_batch", fragile)
    ctx = prepare(tiny_lm, make_settings(["grad"]))
    items = [Review("a", "fine", 1), Review("b", "boom", 2), RowError(3, "c", "empty"), Review("d", "ok", 4)]
    out = ray_worker.explain_rows(ctx, items)
    assert [type(o).__name__ for o in out] == ["Outcome", "RowError", "RowError", "Outcome"]
    assert out[1].row == 2 and "KeyError" in out[1].error and out[2].error == "empty"


def test_actor_answers_a_block_in_row_order_and_its_keep_tallies(bert_dir):
    from saliency_cli.runners.ray.reading import Blocks, frames

    explainer = ray_worker.Explainer(ModelSpec(str(bert_dir), "cpu"), make_settings(["grad"]), 1)
    items = [Review("x", "great", 1, "a.txt"), Review("y", "bad", 2, "a.txt"), RowError(3, None, "malformed", "a.txt")]
    block, = frames(items, Blocks(batch_size=2, batches=3), position=7)  # padded to 6 rows: every block the same size
    assert block["batch"].tolist() == [0, 0, 1, -1, -1, -1] and set(block["block"]) == {"00007-000000000001"}
    answer = explainer(block)
    assert list(answer.columns) == ["batch", "row", "result", "extra"] and answer["row"].tolist() == [1, 2, 3]
    results = ray_worker.results_of(answer)
    assert [r.review.id for r in results[:2]] == ["x", "y"] and results[2].error == "malformed"
    assert [len(r.explanations) for r in results[:2]] == [1, 1] and results[0].written is None
    assert ray_worker.extras_of(answer) == []
    explainer.keep = ray_worker.Tallied(("gradient",))
    answer = explainer(block)
    tally, = ray_worker.extras_of(answer)
    assert tally.reviews == 2 and [r.explanations for r in ray_worker.results_of(answer)[:2]] == [(), ()]


def test_batches_are_cut_where_the_local_runner_cuts_them(tiny_lm, monkeypatch):
    items = [Review(str(r), f"review {r}", r) for r in (1, 2, 3, 5, 6, 9, 10, 11, 12, 13)]
    items.insert(3, RowError(4, None, "bad"))  # rows 7 and 8 were skipped (--resume)
    seen: list[list[int]] = []
    real = pipeline.explain_batch

    def spy(ctx, batch, *rest):
        seen.append([i.row for i in batch])
        return real(ctx, batch, *rest)

    monkeypatch.setattr(pipeline, "explain_batch", spy)
    list(pipeline.explain_stream(tiny_lm, items, make_settings(["grad"], batch_size=4)))
    assert [[i.row for i in b] for _, b in row_batches(items, 4)] == seen == [[1, 2, 3, 4], [5, 6], [9, 10, 11, 12], [13]]


def test_sizing_rule_keeps_actors_times_threads_within_the_node():
    one = size_local(RayOptions(), 2)
    assert (one.max_workers, one.cpus_per_worker, one.torch_threads) == (1, 1.5, 2)
    two = size_local(RayOptions(workers=(2, 2)), 2)
    assert (two.cpus_per_worker, two.torch_threads) == (0.75, 1)
    with pytest.raises(ValueError, match="at most 2 actors"):
        size_local(RayOptions(workers=(3, 3)), 2)
    with pytest.raises(ValueError, match="needs 4 CPUs"):
        size_local(RayOptions(workers=(2, 2), cpus_per_worker=2), 2)
    cluster = size_cluster(RayOptions(gpus_per_worker=1), {"CPU": 64, "GPU": 4})
    assert (cluster.min_workers, cluster.max_workers, cluster.cpus_per_worker, cluster.torch_threads) == (1, 4, 1, 1)
    assert parse_workers("2:6") == (2, 6) and parse_workers("3") == (3, 3)
    for bad in ("0", "4:2", "x", "1:2:3"):
        with pytest.raises(ValueError, match="--workers"):
            parse_workers(bad)


def test_missing_ray_is_one_line_and_exit_1(bert_dir, monkeypatch):
    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    res = explain("great", "--model", bert_dir, "--engine", "ray")
    assert res.exit_code == 1
    assert res.stdout == "" and len(res.stderr.strip().splitlines()) == 1
    assert 'pip install "saliency-cli[ray]"' in res.stderr


def test_unreachable_cluster_is_one_line_and_exit_1(bert_dir):
    pytest.importorskip("ray")
    res = explain("great", "--model", bert_dir, "--engine", "ray", "--ray-address", "127.0.0.1:1")
    assert res.exit_code == 1
    assert len(res.stderr.strip().splitlines()) == 1 and "cannot reach the Ray cluster at 127.0.0.1:1" in res.stderr


def test_ray_options_need_the_ray_engine(bert_dir):
    res = explain("great", "--model", bert_dir, "--workers", "2")
    assert res.exit_code == 1 and "--workers needs --engine ray" in res.stderr
    res = explain("great", "--model", bert_dir, "--engine", "spark")
    assert res.exit_code == 1 and "unknown --engine 'spark'" in res.stderr
    res = explain("great", "--model", bert_dir, "--output-dir", "parts")
    assert res.exit_code == 1 and "--output-dir needs --engine ray" in res.stderr



CSV = "".join(['id,text\n', *(f'{i},"review {i}, line one\nand {"great" if i % 3 else "awful"} line two"\n'
                               for i in range(1, 31)), '31,"a quote left open\n32,next\n', '7,duplicate id\n',
               *(f"{i},plain review {i}\n" for i in range(33, 46))])


def test_pieces_of_one_file_give_the_local_rows_and_a_stop_then_resume_completes_them(ray_instance, sharp_dir,
                                                                                     tmp_path, one_thread):
    """Read tasks over byte ranges of one CSV (quoted newlines, a broken quote, a duplicate id), parts
    of 8 rows; a stop after the first answered part (Ctrl-C), then --resume: every row of a local
    run, once, with its scores."""
    from saliency_cli.engine import prepare
    from saliency_cli.inputs import InputSpec, open_reviews
    from saliency_cli.model import load_model
    from saliency_cli.outputs.writers import Outputs
    from saliency_cli.runners.local import LocalRunner
    from saliency_cli.runners.loop import run as run_loop
    from saliency_cli.runners.ray.driver import RayRunner
    from saliency_cli.runners.ray.parts import OutputDir

    src = tmp_path / "in.csv"
    src.write_text(CSV)
    spec = InputSpec(path=str(src), id_field="id")
    settings = make_settings(["grad"], batch_size=4)
    local = Outputs([str(tmp_path / "local.jsonl")], None, "token", False)
    run_loop(LocalRunner(prepare(load_model(str(sharp_dir), device="cpu"), settings)), open_reviews(spec), [local])
    want = lines(tmp_path / "local.jsonl")
    assert len(want) == 44 and [r["row"] for r in want[29:32]] == [30, 32, 34]  # 31: broken quote, 33: dup id
    folder = tmp_path / "parts"

    def run(resume: bool, **stop):
        out = OutputDir.open(str(folder), None, "token", resume)
        ray_runner = RayRunner(ModelSpec(str(sharp_dir), "cpu"), settings,
                               RayOptions(workers=(1, 1), cpus_per_worker=1, part_rows=8), keep=out.spec,
                               on_loads=out.loaded)  # pieces of 16 rows: 3 in the file, 2 parts each
        return run_loop(ray_runner, open_reviews(spec), [out], done=out.done, **stop), \
            json.loads((folder / "manifest.json").read_text())

    summary, manifest = run(False, should_stop=lambda: True)  # Ctrl-C at once: the first answered part is kept
    assert summary.interrupted and not manifest["complete"] and 1 <= summary.explained < 44
    summary, manifest = run(True)
    assert not summary.interrupted and manifest["complete"] and summary.failed == 2
    assert summary.explained + summary.skipped == 44 and manifest["reviews"] == 44
    assert [p["first_row"] for p in manifest["parts"]] == [1, 9, 17, 25, 34, 41]  # row 33 failed: no record
    got = [record for p in manifest["parts"] for record in lines(folder / p["file"])]
    for a, b in zip(want, got, strict=True):
        close(a, b)


def test_evaluate_on_ray_gives_the_local_summary(ray_instance, sharp_dir, tmp_path, one_thread):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(REVIEWS.read_text().splitlines(keepends=True)[:24]))
    common = ["evaluate", str(src), "--model", str(sharp_dir), "--method", "grad", "--method", "occlusion",
              "--bootstrap", "200", "--batch-size", "4", "-q"]
    res = runner.invoke(app, [*common, "--summary", str(tmp_path / "local.json")])
    assert res.exit_code == 0, res.stderr
    res = runner.invoke(app, [*common, "--summary", str(tmp_path / "ray.json"), "--engine", "ray", "--workers", "1",
                              "--cpus-per-worker", "1"])
    assert res.exit_code == 0, res.stderr
    want, got = (json.loads((tmp_path / n).read_text()) for n in ("local.json", "ray.json"))
    assert want["methods"]["occlusion"]["comprehensiveness"]["n"] == 24
    close(want, got)

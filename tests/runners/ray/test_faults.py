"""Faults on a simulated cluster (``ray.cluster_utils.Cluster``: a head and two worker nodes on this
machine): an actor killed with SIGKILL and a worker node lost mid-run cost no row; the run ends
complete with every row once and the rows of a local run. (Ctrl-C then --resume: tests/runners/test_ray.py.)"""

from __future__ import annotations

import json
import os
import signal
import warnings
from pathlib import Path

import pytest

from saliency_cli.engine import prepare
from saliency_cli.inputs import InputSpec, open_reviews
from saliency_cli.model import ModelSpec, load_model
from saliency_cli.outputs.writers import Outputs
from saliency_cli.runners.local import LocalRunner
from saliency_cli.runners.loop import run
from saliency_cli.runners.ray.cluster import RayOptions
from saliency_cli.runners.ray.driver import RayRunner
from saliency_cli.runners.ray.loads import COUNTER_NAME
from saliency_cli.settings import make_settings

REVIEWS = Path(__file__).resolve().parents[3] / "sample_data" / "reviews.jsonl"
SETTINGS = make_settings(["ig"], options={"steps": 32}, batch_size=4)  # enough work left when the fault comes


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head (1 CPU: the driver, and room to restart one actor) and two worker nodes of 1 CPU."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from saliency_cli.runners.ray.cluster import init_ray

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        nodes.workers = [nodes.add_node(num_cpus=1) for _ in range(2)]
        init_ray(ray, RayOptions(address=nodes.address))
    yield nodes
    ray.shutdown()
    nodes.shutdown()


@pytest.fixture()
def one_thread():
    """The local reference with the torch threads of each actor (one): see tests/runners/test_ray.py."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def shards(folder: Path) -> InputSpec:
    folder.mkdir()
    reviews = REVIEWS.read_text().splitlines(keepends=True)
    for k, name in enumerate("ab"):
        (folder / f"{name}.jsonl").write_text("".join(reviews[k * 40:(k + 1) * 40]))
    return InputSpec(path=str(folder))


class Fault:
    """A sink that does ``harm(where)`` once the first block's rows are in: ``where`` lists (actor,
    node, pid) of every model load so far."""

    def __init__(self, harm):
        self.harm, self.done, self.rows = harm, False, 0

    def add(self, result) -> None:
        import ray

        self.rows += 1
        if not self.done and self.rows >= 8:
            self.done = True
            self.harm(ray.get(ray.get_actor(COUNTER_NAME).where.remote()))

    def finish(self, ending) -> None:
        pass


def on_a_worker_node(cluster, where, wait_s: float = 120.0):
    """A worker node an actor runs on (one of the two actors may still be loading: wait for it)."""
    import time

    import ray

    deadline = time.monotonic() + wait_s
    while True:
        busy = {node for _, node, _ in where}
        found = [n for n in cluster.workers if n.node_id in busy]
        if found or time.monotonic() > deadline:
            return found[0]
        time.sleep(0.5)
        where = ray.get(ray.get_actor(COUNTER_NAME).where.remote())


def run_with(fault, spec, model_dir, cluster, out):
    loads = []
    runner = RayRunner(ModelSpec(str(model_dir), "cpu"), SETTINGS,
                       RayOptions(address=cluster.address, workers=(2, 2), cpus_per_worker=0.75,
                                  first_block_rows=8, block_rows=8),
                       on_loads=loads.append)
    writer = Outputs([str(out)], None, "token", False)
    return run(runner, open_reviews(spec), [writer, fault]), loads[0]


def local_rows(spec, model_dir, out):
    run(LocalRunner(prepare(load_model(str(model_dir), device="cpu"), SETTINGS)),
        open_reviews(spec), [Outputs([str(out)], None, "token", False)])
    return out.read_text().splitlines()


def same_rows(want, got_path):
    got = got_path.read_text().splitlines()
    assert len(got) == len(want) == 80
    for a, b in zip(map(json.loads, want), map(json.loads, got)):
        assert (a["source"], a["row"], a["id"]) == (b["source"], b["row"], b["id"])
        assert max(abs(x["score"] - y["score"]) for x, y in zip(a["tokens"], b["tokens"])) <= 1e-6


@pytest.mark.slow  # run by benchmarks/ray_scaling.py --part faults; a lost node (below) also kills an actor
def test_an_actor_killed_mid_run_costs_no_row(cluster, sharp_dir, tmp_path, one_thread):
    spec = shards(tmp_path / "in")
    want = local_rows(spec, sharp_dir, tmp_path / "local.jsonl")

    def kill(where):
        os.kill(where[-1][2], signal.SIGKILL)

    summary, loads = run_with(Fault(kill), spec, sharp_dir, cluster, tmp_path / "ray.jsonl")
    assert (summary.explained, summary.failed, summary.interrupted) == (80, 0, False)
    assert (loads.actors, loads.model_loads) == (2, 3)  # the killed actor was restarted and loaded the model again
    same_rows(want, tmp_path / "ray.jsonl")


def test_a_worker_node_lost_mid_run_costs_no_row(cluster, sharp_dir, tmp_path, one_thread):
    spec = shards(tmp_path / "in")
    want = local_rows(spec, sharp_dir, tmp_path / "local.jsonl")
    lost = []

    def lose_a_node(where):
        node = on_a_worker_node(cluster, where)
        cluster.remove_node(node)
        lost.append(node.node_id)

    summary, loads = run_with(Fault(lose_a_node), spec, sharp_dir, cluster, tmp_path / "ray.jsonl")
    assert lost and (summary.explained, summary.failed, summary.interrupted) == (80, 0, False)
    assert (loads.actors, loads.model_loads) == (2, 3)  # its actor started again on another node
    same_rows(want, tmp_path / "ray.jsonl")

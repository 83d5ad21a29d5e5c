"""Ray for the ``--engine ray`` runner: importing it, sizing the actors, starting or joining a cluster.

Nothing here touches the model or the files. The sizing rule (README, "Scaling out with Ray"):
on a private local instance the node's CPUs less half a CPU (kept for the driver, which reads and
writes) are shared by the actors, each running ``CPUs // workers`` torch threads, so
actors x threads never exceeds the node's CPUs; on a cluster each actor asks for
``--cpus-per-worker`` CPUs (default 1) and runs that many torch threads.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from saliency_cli.records import first_line

RAY_RANGE = ">=2.60,<2.61"
INSTALL_HINT = 'pip install "saliency-cli[ray]"'
DRIVER_RESERVE_CPUS = 0.5  # kept free on a local node for the driver (reading, writing) and Ray's own tasks
# No block finished or moved for this long: fail instead of hanging (Ray's own default is 30 minutes).
# Long enough for one slow batch on a loaded CPU (actor start and model load included: 120 s was hit
# on a shared 2-core machine); RAY_DATA_EXECUTION_NO_PROGRESS_TIMEOUT_S, when set, wins.
LOCAL_NO_PROGRESS_S = 600.0
CLUSTER_NO_PROGRESS_S = 1200.0  # a cluster may also wait for its autoscaler
CONNECT_TIMEOUT_S = 5.0


class RayError(Exception):
    """Ray is missing, the cluster cannot be reached, or the actors cannot be placed (exit code 1)."""


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run: ``address`` None starts a private local instance; ``workers`` is
    (min, max) actors (equal: a fixed pool), None: one per CPU share locally, 1 to all the cluster's
    CPUs (or GPUs) on a cluster. Input rows per block (one read task, one actor call): the first block
    ``first_block_rows``, each next one twice as many, up to ``block_rows`` (answers go back to the
    driver) or ``part_rows`` with ``--output-dir`` (one part file each); all in whole batches."""

    address: str | None = None
    workers: tuple[int, int] | None = None
    cpus_per_worker: float | None = None
    gpus_per_worker: float = 0.0
    first_block_rows: int = 64
    block_rows: int = 512
    part_rows: int = 1024
    no_progress_timeout_s: float | None = None
    temp_dir: str | None = None
    num_cpus: int | None = None  # a private local instance's CPUs (default: what this process may use)


@dataclass(frozen=True)
class Sizing:
    """What each actor asks Ray for and how many torch threads it runs."""

    min_workers: int
    max_workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    torch_threads: int


def parse_workers(text: str | None) -> tuple[int, int] | None:
    """``N`` (a fixed pool) or ``MIN:MAX`` (an autoscaling pool) to (min, max); ValueError if malformed."""
    if text is None:
        return None
    parts = text.split(":")
    try:
        low, high = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (0, -1)
    except ValueError:
        low, high = 0, -1
    if low < 1 or high < low:
        raise ValueError(f"--workers {text!r}: give N or MIN:MAX with 1 <= MIN <= MAX")
    return low, high


def node_cpus() -> int:
    """CPUs this process may use (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def size_local(options: RayOptions, cpus: int) -> Sizing:
    """Actors on one node of ``cpus`` CPUs: fractional CPUs by default; ValueError if they cannot fit."""
    low, high = options.workers or (max(1, cpus // 2),) * 2
    if options.cpus_per_worker is None:
        threads = cpus // high
        if threads < 1:
            raise ValueError(f"--workers {high}: this node has {cpus} CPUs, so at most {cpus} actors fit "
                             "(one torch thread each)")
        share = (cpus - DRIVER_RESERVE_CPUS) / high
    else:
        share = options.cpus_per_worker
        threads = max(1, math.floor(share))
        if high * max(share, threads) > cpus:
            raise ValueError(f"--workers {high} x --cpus-per-worker {share:g} needs {high * max(share, threads):g} "
                             f"CPUs; this node has {cpus}")
    return Sizing(low, high, share, options.gpus_per_worker, threads)


def size_cluster(options: RayOptions, resources: dict[str, float]) -> Sizing:
    """Actors on a cluster: ``--cpus-per-worker`` (default 1) CPUs and torch threads each; by default
    1 to as many actors as the cluster's CPUs (or GPUs, with ``--gpus-per-worker``) hold."""
    share = 1.0 if options.cpus_per_worker is None else options.cpus_per_worker
    gpus = options.gpus_per_worker
    if options.workers is not None:
        low, high = options.workers
    else:
        fits = [resources.get("CPU", 0.0) / share if share else math.inf]
        if gpus:
            fits.append(resources.get("GPU", 0.0) / gpus)
        low, high = 1, max(1, int(min(fits)))
    return Sizing(low, high, share, gpus, max(1, math.floor(share)))


def import_ray() -> Any:
    """Import Ray (and Ray Data) quietly; RayError with the install command when it is missing."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import ray
            import ray.data  # noqa: F401
    except ImportError:
        raise RayError(f"--engine ray needs Ray: {INSTALL_HINT} (Ray {RAY_RANGE})") from None
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    host, _, port = address.rpartition(":")
    if host.startswith("ray://"):
        host = host[len("ray://"):]
    return (host.strip("[]"), int(port)) if host and port.isdigit() else None


def check_reachable(address: str) -> None:
    """Fail in seconds (RayError) when the cluster's address does not answer; Ray itself waits minutes."""
    target = address
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address

            target = canonicalize_bootstrap_address("auto") or ""
        except Exception:  # no running cluster recorded: ray.init says so itself, at once
            return
    where = _host_port(target)
    if where is None:
        return
    try:
        socket.create_connection(where, timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RayError(f"cannot reach the Ray cluster at {target} ({exc.strerror or exc}); "
                       "start one with 'ray start --head' or check --ray-address") from None


def _quiet_ray_logs() -> None:
    for name in ("ray", "ray.data", "ray.train", "ray.tune"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Ray's C++ core writes start-up lines straight to file descriptor 2; drop them while it starts.
    (Its errors still arrive as exceptions, turned into one-line messages.)"""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextmanager
def ray_session(options: RayOptions) -> Iterator[tuple[Any, Sizing]]:
    """Start a private local Ray (``address="local"``, never a bare ``ray.init()``) or join
    ``options.address``; yield (ray, sizing) with Ray Data set up quietly; shut down after. A Ray
    already initialised by the caller (a notebook, a test) is used as it is and left running."""
    ray = import_ray()
    warnings.filterwarnings("ignore", module=r"ray(\.|$)")  # Ray's own deprecation notes, raised as it runs
    _quiet_ray_logs()
    if options.address is not None:
        check_reachable(options.address)
    owned = not ray.is_initialized()
    if owned:
        init_ray(ray, options)
    try:
        _quiet_ray_logs()
        if options.address is None:
            sizing = size_local(options, int(ray.cluster_resources().get("CPU", 1)))
        else:
            sizing = size_cluster(options, ray.cluster_resources())
        timeout = options.no_progress_timeout_s or float(os.environ.get(
            "RAY_DATA_EXECUTION_NO_PROGRESS_TIMEOUT_S",
            LOCAL_NO_PROGRESS_S if options.address is None else CLUSTER_NO_PROGRESS_S))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        context.execution_options.preserve_order = True
        context.execution_no_progress_timeout_s = timeout
        yield ray, sizing
    finally:
        if owned:
            ray.shutdown()


def init_ray(ray: Any, options: RayOptions) -> None:
    """``ray.init`` for ``options`` (a private local instance sized to this node); RayError if it fails."""
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # the driver's C++ lines, e.g. on actor restarts
    _quiet_ray_logs()
    kwargs: dict[str, Any] = dict(log_to_driver=False, logging_level=logging.ERROR, include_dashboard=False)
    if options.address is None:
        cpus = options.num_cpus or node_cpus()
        sizing = size_local(options, cpus)  # refuse actors that cannot fit before starting anything
        if options.gpus_per_worker:
            import torch

            if torch.cuda.device_count() < options.gpus_per_worker * sizing.max_workers:
                raise ValueError(f"--gpus-per-worker {options.gpus_per_worker:g} x {sizing.max_workers} workers: "
                                 f"this node has {torch.cuda.device_count()} GPUs")
        kwargs.update(address="local", num_cpus=cpus)
        if options.temp_dir:
            kwargs["_temp_dir"] = options.temp_dir
    else:
        kwargs.update(address=options.address)
    try:
        with warnings.catch_warnings(), _stderr_silenced():
            warnings.simplefilter("ignore")
            ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayError(f"cannot start or join Ray at {options.address or 'local'}: {first_line(exc)}") from None

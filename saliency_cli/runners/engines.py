"""Which runner a run uses (``--engine local|ray``) and its options, checked before any work."""

from __future__ import annotations

from dataclasses import dataclass, replace

from saliency_cli.runners.ray.cluster import RayOptions, import_ray, parse_workers
from saliency_cli.settings import Settings

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Engine:
    """The ``--engine`` choice and, for Ray, its options."""

    name: str = "local"
    ray: RayOptions | None = None


def plan_engine(engine: str = "local", ray_address: str | None = None, workers: str | None = None,
                cpus_per_worker: float | None = None, gpus_per_worker: float | None = None) -> Engine:
    """The ``--engine`` options checked together (ValueError naming the flag) before any work."""
    if engine not in ENGINES:
        raise ValueError(f"unknown --engine {engine!r}; choose from {', '.join(ENGINES)}")
    given = {"--ray-address": ray_address, "--workers": workers, "--cpus-per-worker": cpus_per_worker,
             "--gpus-per-worker": gpus_per_worker}
    if engine == "local":
        extra = [flag for flag, value in given.items() if value is not None]
        if extra:
            raise ValueError(f"{extra[0]} needs --engine ray")
        return Engine()
    if cpus_per_worker is not None and cpus_per_worker <= 0:
        raise ValueError("--cpus-per-worker must be > 0")
    if gpus_per_worker is not None and gpus_per_worker < 0:
        raise ValueError("--gpus-per-worker must be >= 0")
    import_ray()  # a missing extra fails now, before the model is loaded
    options = RayOptions(address=ray_address or None, workers=parse_workers(workers), cpus_per_worker=cpus_per_worker,
                         gpus_per_worker=gpus_per_worker or 0.0)
    return Engine("ray", options)


def driver_settings(settings: Settings, engine: Engine) -> Settings:
    """The settings the driver checks (targets, labels, ``--resume``) on its CPU copy of the model:
    the run's own, except that a dtype meant for GPU workers is not checked against the driver's CPU."""
    if engine.ray is not None and engine.ray.gpus_per_worker:
        return replace(settings, dtype="float32")
    return settings

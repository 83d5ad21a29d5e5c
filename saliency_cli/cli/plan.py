"""From a command's option values to what a run needs, every user error found before any work:
settings, the input, the model to load, the outputs checked; shared by ``explain`` and ``evaluate``."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Mapping

from saliency_cli.cli.console import fail
from saliency_cli.inputs import InputSpec, stdin_is_piped
from saliency_cli.options import INPUT, MODEL, OPTIONS, SETTINGS, destined
from saliency_cli.outputs.formats import output_format
from saliency_cli.outputs.paths import OutputError, check_writable, is_stdout
from saliency_cli.settings import Settings, make_settings


def run_settings(values: Mapping[str, Any], **fixed: Any) -> Settings:
    """The engine's settings from the option values (``fixed`` overrides some, e.g. evaluate's faithfulness)."""
    chosen = {o.name: values.get(o.name) for o in OPTIONS if o.to == SETTINGS}
    chosen.update(fixed)
    return make_settings(chosen.pop("methods"), options=values.get("method_options"), **chosen)


def input_spec(values: Mapping[str, Any]) -> InputSpec:
    """Where the reviews come from: TEXT arguments, ``--input`` (``-``: stdin), or piped stdin."""
    texts = list(values.get("texts") or ())
    path = values.get("input")
    if texts and path is not None:
        raise ValueError("give review TEXT arguments or --input, not both")
    if texts == ["-"] or (not texts and path is None and stdin_is_piped()):
        texts, path = [], "-"
    fields = destined({**values, "input": path, "texts": tuple(texts)}, INPUT)
    return InputSpec(**fields)


def files_named(texts: tuple[str, ...]) -> list[str]:
    """The TEXT arguments that name an existing file: most likely meant for ``-i``, explained as text."""
    import os

    return [t for t in texts if t != "-" and "\n" not in t and len(t) < 4096 and os.path.isfile(t)]


def model_spec(values: Mapping[str, Any], device: str | None = None) -> Any:
    """How to load the model (a ``model.ModelSpec``); ``device`` overrides ``--device`` (the Ray driver
    checks on its CPU). torch is imported here, not when the CLI starts: report and summarize need none."""
    from saliency_cli.model import ModelSpec

    fields = destined(values, MODEL)
    if device is not None:
        fields["device"] = device
    return ModelSpec(**fields)


def engine_plan(values: Mapping[str, Any]) -> Any:
    """Local or Ray, and how the Ray workers are sized (``runners.engines.plan_engine``)."""
    from saliency_cli.runners.engines import plan_engine

    return plan_engine(values["engine"], values["ray_address"], values["workers"], values["cpus_per_worker"],
                       values["gpus_per_worker"])


def load_and_prepare(values: Mapping[str, Any], settings: Settings, engine: Any) -> tuple[Any, Any]:
    """The model and the run prepared on it. With Ray the model loads on the driver's CPU: the driver
    only checks targets, labels and resume with it; the actors load their own."""
    from saliency_cli.engine import prepare
    from saliency_cli.model import quiet_transformers
    from saliency_cli.runners.engines import driver_settings

    quiet_transformers()
    lm = model_spec(values, device=None if engine.ray is None else "cpu").load()
    return lm, prepare(lm, driver_settings(settings, engine))


@contextmanager
def user_errors() -> Iterator[None]:
    """What the checks before a run raise, as one ``error:`` line and exit 1 (a setting named by its flag)."""
    from saliency_cli.inputs import InputError
    from saliency_cli.model import ModelLoadError
    from saliency_cli.runners.ray.cluster import RayError
    from saliency_cli.settings import SettingError, flag_of

    try:
        yield
    except SettingError as exc:
        raise fail(f"{flag_of(exc.option)}: {exc.message}") from None
    except (RayError, ValueError, InputError, OutputError, ModelLoadError) as exc:
        raise fail(str(exc)) from None


def check_outputs(outputs: list[str], errors: str | None, html: str | None, fmt: str | None = None,
                  faithfulness: bool = False) -> None:
    """Every output path writable and of a format the tool writes, at most one of them on stdout,
    before the model loads. CSV is refused with ``faithfulness``: its rows have no place for the
    metrics, which would be computed and then dropped."""
    if html is not None and is_stdout(html) and any(is_stdout(o) for o in outputs):
        raise OutputError("--html - writes the report to stdout: send the results elsewhere with -o FILE")
    for path in outputs:
        if output_format(path, fmt) == "csv" and faithfulness:
            raise OutputError("--faithfulness: CSV has no columns for the faithfulness metrics; "
                              "write JSONL (-o FILE.jsonl), or drop --faithfulness")
    for path in [*outputs, errors]:
        if path is not None:
            check_writable(path)
    if html is not None:
        check_writable(html, "HTML report")


def rows_left(rows: int | None, done: set[str]) -> int | None:
    """The rows a run has left to explain: the input's (None: unknown), less those --resume found done."""
    return None if rows is None else max(0, rows - len(done))

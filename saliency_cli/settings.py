"""Run settings: the user's choices validated once, made from the option table and the methods' tables.

``Settings`` has one field per option of ``options.OPTIONS`` that goes to the engine, plus the
resolved methods; its fields, their defaults and their checks all come from that table, so a run
option is declared once. Every method parameter is declared once too, as a ``Param`` of its method:
``method_options()`` collects them into the table that the CLI's flags, the Python API's keywords,
the ``methods`` listing and the validation messages are all generated from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, make_dataclass
from typing import Any, Mapping, Sequence

from saliency_cli.methods import METHODS, Method, Param, ParamError, get_method
from saliency_cli.options import BY_NAME, OPTIONS, SETTINGS, Option


class SettingError(ValueError):
    """A setting has a value that cannot be used; ``option`` is its API keyword (the CLI adds ``--``)."""

    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


@dataclass(frozen=True)
class MethodOption:
    """One row of the method-option table: an API keyword / CLI flag and the methods that read it."""

    keyword: str
    type: type
    help: str
    uses: tuple[tuple[str, Param], ...]  # (method name, its Param)

    @property
    def flag(self) -> str:
        return "--" + self.keyword.replace("_", "-")

    @property
    def param(self) -> str:
        """The name recorded in the output's ``params``."""
        return self.uses[0][1].name


def method_options(methods: Mapping[str, Method] = METHODS) -> dict[str, MethodOption]:
    """Every method parameter by API keyword; a keyword shared by several methods is one option, whose
    help states each distinct meaning once (naming the methods when they differ)."""
    table: dict[str, list[tuple[str, Param]]] = {}
    for m in methods.values():
        for p in m.params:
            table.setdefault(p.keyword, []).append((m.name, p))
    out = {}
    for keyword, uses in table.items():
        meanings: dict[str, list[str]] = {}
        for m, p in uses:
            meanings.setdefault(p.help, []).append(m)
        text = next(iter(meanings)) if len(meanings) == 1 else "; ".join(
            f"{', '.join(names)}: {help}" for help, names in meanings.items())
        out[keyword] = MethodOption(keyword, uses[0][1].type, text, tuple(uses))
    return out


def flag_of(name: str) -> str:
    """The CLI flag of a run option or method parameter, by API keyword or recorded parameter name."""
    if name in BY_NAME:
        return BY_NAME[name].flag
    for opt in method_options().values():
        if name in (opt.keyword, opt.param):
            return opt.flag
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class MethodRun:
    """A method with its resolved parameters (what is recorded in ``params``)."""

    method: Method
    params: Mapping[str, Any]


ENGINE_OPTIONS = tuple(o for o in OPTIONS if o.to == SETTINGS and o.name != "methods")


def _default(option: Option) -> Any:
    return tuple(option.default) if option.many else option.default


Settings = make_dataclass(
    "Settings",
    [("methods", tuple)] + [(o.dest, Any, field(default=_default(o))) for o in ENGINE_OPTIONS],
    frozen=True,
    namespace={"__doc__": """Everything a run needs besides the model and the reviews: the resolved methods
    and one field per engine option of ``options.OPTIONS`` (``targets``, ``attribute``, ``normalization``,
    ``batch_size``, ``max_memory`` in bytes, ``long_text``, ``window_overlap``, ``dtype``, ``faithfulness``,
    ``faithfulness_baseline``).

    ``batch_size`` is the number of reviews the core explains in one call (the unit of streaming,
    progress and what an interruption can lose); inside a call, reviews are grouped by length and
    cut by ``max_memory``, not by ``batch_size``."""},
)
Settings.__module__ = __name__


def parse_size(text: str | int | None) -> int | None:
    """``512MB``, ``2GiB``, ``1.5G`` or plain bytes to bytes (decimal and binary units accepted)."""
    if text is None or isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)(i?)b?\s*", text.lower())
    if not m:
        raise ValueError(f"cannot read size {text!r}; use e.g. 512MB or 2GB")
    number, unit, binary = float(m.group(1)), m.group(2), m.group(3)
    base = 1024 if binary else 1000
    return int(number * base ** " kmgt".index(unit or " "))


def check_value(option: Option, value: Any) -> Any:
    """``value`` checked against the option's choices and minimum (SettingError naming its API keyword)."""
    if value is None:
        return value
    if option.choices:
        values = value if option.many else [value]
        for v in values:
            if str(v).lower() not in option.choices:
                raise SettingError(option.name, f"unknown value {v!r}; choose from {', '.join(option.choices)}")
    if option.minimum is not None and value < option.minimum:
        floor = int(option.minimum) if float(option.minimum).is_integer() else option.minimum
        raise SettingError(option.name, "must be non-negative" if floor == 0 else f"must be at least {floor}")
    return value


def resolve_methods(methods: Sequence[str], options: Mapping[str, Any] | None = None) -> tuple[MethodRun, ...]:
    """Methods by name or alias, each with its parameters from ``options`` (API keywords; None = default)."""
    if not methods:
        raise SettingError("methods", "at least one method is needed")
    table = method_options()
    given = dict(options or {})
    unknown = sorted(k for k in given if k not in table)
    if unknown:
        run = ", ".join(o.name for o in OPTIONS if o.api)
        raise SettingError(unknown[0], f"not an option; run options: {run}; method options: {', '.join(sorted(table))}")
    runs: list[MethodRun] = []
    for name in methods:
        m = get_method(name)
        if any(r.method.name == m.name for r in runs):
            continue
        own = {p.name: given.get(p.keyword) for p in m.params}
        try:
            runs.append(MethodRun(m, m.resolve(own)))
        except ParamError as exc:
            keyword = next(p.keyword for p in m.params if p.name == exc.param)
            raise SettingError(keyword, exc.message) from None
    return tuple(runs)


def make_settings(methods: Sequence[str] = BY_NAME["methods"].default, *, options: Mapping[str, Any] | None = None,
                  **values: Any) -> Settings:
    """Validate user choices and resolve each method's parameters (raises SettingError, a ValueError).

    ``values`` are engine options by API keyword (``target``, ``attribute``, ``normalize``,
    ``batch_size``, ...; see ``options.OPTIONS``); ``options`` holds the methods' parameters by keyword.
    """
    fields: dict[str, Any] = {}
    for option in ENGINE_OPTIONS:
        value = values.pop(option.name, None)
        if value is None:
            fields[option.dest] = _default(option)
            continue
        if option.many:
            value = tuple([value] if isinstance(value, str) else value) or _default(option)
        elif option.name == "max_memory":
            try:
                value = parse_size(value)
            except ValueError as exc:
                raise SettingError(option.name, str(exc)) from None
            if value < (1 << 20):
                raise SettingError(option.name, "must be at least 1 MB")
        elif option.choices:
            value = str(value).lower()
        fields[option.dest] = check_value(option, value)
    if values:
        name = sorted(values)[0]
        raise SettingError(name, f"not a run option; known: {', '.join(o.name for o in ENGINE_OPTIONS)}")
    return Settings(methods=resolve_methods(methods, options), **fields)


def label_index(labels: Sequence[str], spec: str) -> int:
    """Resolve a label name (exact, then case-insensitive) or an integer index to a label index."""
    text = spec.strip()
    for i, label in enumerate(labels):
        if label == text:
            return i
    lowered = text.lower()
    for i, label in enumerate(labels):
        if label.lower() == lowered:
            return i
    if text.lstrip("-").isdigit():
        idx = int(text)
        if 0 <= idx < len(labels):
            return idx
        raise ValueError(f"label index {idx} is out of range 0..{len(labels) - 1}")
    raise ValueError(f"unknown label {spec!r}; the model's labels are: {', '.join(labels)}")


def resolve_targets(labels: Sequence[str], targets: Sequence[str], predicted: int) -> list[int]:
    """Label indices to explain for a review predicted as ``predicted``, without repeats, in the order asked."""
    out: list[int] = []
    for t in targets:
        key = t.strip().lower()
        if key == "predicted":
            idx = [predicted]
        elif key == "all":
            idx = list(range(len(labels)))
        else:
            idx = [label_index(labels, t)]
        out.extend(i for i in idx if i not in out)
    return out

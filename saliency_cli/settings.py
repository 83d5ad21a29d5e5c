"""Run settings: the user's choices, validated once, and the one table of method options.

Every method parameter is declared once, as a ``Param`` of its method. ``method_options()``
collects them into the table that the CLI's flags, the Python API's keywords, the ``methods``
listing and the validation messages are all generated from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from saliency_cli.aggregate import NORMALIZATIONS
from saliency_cli.methods import METHODS, Method, Param, ParamError, get_method
from saliency_cli.methods.occlusion import REPLACEMENTS

ATTRIBUTES = ("probability", "logit")
DTYPES = ("auto", "float32", "bfloat16", "float16")
LONG_TEXT = ("truncate", "window")


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
    """Every method parameter by API keyword; a keyword shared by several methods is one option."""
    table: dict[str, list[tuple[str, Param]]] = {}
    for m in methods.values():
        for p in m.params:
            table.setdefault(p.keyword, []).append((m.name, p))
    out = {}
    for keyword, uses in table.items():
        helps = {p.help for _, p in uses}
        text = uses[0][1].help if len(helps) == 1 else "; ".join(f"{m}: {p.help}" for m, p in uses)
        out[keyword] = MethodOption(keyword, uses[0][1].type, text, tuple(uses))
    return out


def flag_of(name: str) -> str:
    """The CLI flag of a method parameter or option, by parameter name or API keyword."""
    for opt in method_options().values():
        if name in (opt.keyword, opt.param):
            return opt.flag
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class MethodRun:
    """A method with its resolved parameters (what is recorded in ``params``)."""

    method: Method
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Settings:
    """Everything a run needs besides the model and the reviews.

    ``batch_size`` is the number of reviews the core explains in one call (the unit of streaming,
    progress and what an interruption can lose); inside a call, reviews are grouped by length and
    cut by ``max_memory``, not by ``batch_size``.
    """

    methods: tuple[MethodRun, ...]
    targets: tuple[str, ...] = ("predicted",)
    attribute: str = "probability"
    normalization: str = "none"
    batch_size: int = 16
    max_memory: int | None = None
    long_text: str = "truncate"
    window_overlap: int | None = None
    dtype: str = "float32"
    faithfulness: bool = False
    faithfulness_baseline: str | None = None  # what a removed word becomes; None: the mask-token rule


def _choice(option: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise SettingError(option, f"unknown value {value!r}; choose from {', '.join(choices)}")


def resolve_methods(methods: Sequence[str], options: Mapping[str, Any] | None = None) -> tuple[MethodRun, ...]:
    """Methods by name or alias, each with its parameters from ``options`` (API keywords; None = default)."""
    if not methods:
        raise SettingError("methods", "at least one method is needed")
    table = method_options()
    given = dict(options or {})
    unknown = sorted(k for k in given if k not in table)
    if unknown:
        raise SettingError(unknown[0], f"not a method option; known: {', '.join(sorted(table))}")
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


def make_settings(
    methods: Sequence[str],
    *,
    options: Mapping[str, Any] | None = None,
    targets: Sequence[str] = ("predicted",),
    attribute: str = "probability",
    normalization: str = "none",
    batch_size: int = 16,
    max_memory: int | None = None,
    long_text: str = "truncate",
    window_overlap: int | None = None,
    dtype: str = "float32",
    faithfulness: bool = False,
    faithfulness_baseline: str | None = None,
) -> Settings:
    """Validate user choices and resolve each method's parameters (raises SettingError, a ValueError)."""
    _choice("attribute", attribute, ATTRIBUTES)
    _choice("normalize", normalization, NORMALIZATIONS)
    _choice("dtype", (dtype or "").lower(), DTYPES)
    _choice("long_text", long_text, LONG_TEXT)
    if batch_size < 1:
        raise SettingError("batch_size", "must be at least 1")
    if window_overlap is not None and window_overlap < 0:
        raise SettingError("window_overlap", "must be non-negative")
    if faithfulness_baseline is not None:
        _choice("faithfulness_baseline", faithfulness_baseline, REPLACEMENTS)
    if max_memory is not None and max_memory < (1 << 20):
        raise SettingError("max_memory", "must be at least 1 MB")
    return Settings(
        methods=resolve_methods(methods, options),
        targets=tuple(targets) or ("predicted",),
        attribute=attribute,
        normalization=normalization,
        batch_size=batch_size,
        max_memory=max_memory,
        long_text=long_text,
        window_overlap=window_overlap,
        dtype=dtype.lower(),
        faithfulness=bool(faithfulness),
        faithfulness_baseline=faithfulness_baseline,
    )
